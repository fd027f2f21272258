#include <doctest/doctest.h>

#include <vector>

#include "actors/core/small_fifo.hpp"

using convoy::small_fifo;

namespace {

std::vector<int> contents(const small_fifo<int>& f) {
  std::vector<int> out;
  f.for_each([&](int x) { out.push_back(x); });
  return out;
}

}  // namespace

TEST_CASE("small_fifo removes the oldest match, or all matches, keeping the order") {
  small_fifo<int> f;
  for (int i = 1; i <= 6; ++i)
    f.push_back(i);
  CHECK(f.pop_front() == 1);
  CHECK(f.erase_first_if([](int x) { return x % 2 == 0; }));
  CHECK(contents(f) == std::vector<int>{3, 4, 5, 6});
  CHECK_FALSE(f.erase_first_if([](int x) { return x > 10; }));
  CHECK(f.erase_if([](int x) { return x % 2 == 1; }) == 2);
  CHECK(contents(f) == std::vector<int>{4, 6});
  CHECK(f.front() == 4);
  CHECK(f.erase_if([](int) { return true; }) == 2);
  CHECK(f.empty());
  f.push_back(9);
  CHECK(f.size() == 1);
  CHECK(f.pop_front() == 9);
}
