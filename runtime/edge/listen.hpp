#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/ip/tcp.hpp>

namespace convoy::runtime {

// Opens, binds and listens on address:port (port 0: the system picks);
// throws boost::system::system_error when the address is unusable or taken.
inline void open_acceptor(boost::asio::ip::tcp::acceptor& acceptor, const std::string& address,
                          std::uint16_t port) {
  namespace asio = boost::asio;
  asio::ip::tcp::endpoint endpoint{asio::ip::make_address(address), port};
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint);
  acceptor.listen(asio::socket_base::max_listen_connections);
}

}  // namespace convoy::runtime
