#include <cstdio>

int main() {
  std::puts("convoy");
  return 0;
}
