#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include <openssl/ssl.h>

namespace convoy::runtime {

// The server side of one TLS session over a non-blocking socket the caller
// owns. Not thread-safe: one SSL object must not be used by two threads at
// once, so the connection calls it under its own mutex.
class tls_stream {
 public:
  enum class status : std::uint8_t {
    ok,
    want_read,   // wait until the socket is readable, then call again
    want_write,  // wait until the socket is writable, then call again
    closed,      // the peer sent close_notify or closed the socket
    failed,      // protocol or verification error; error() says which
  };
  struct io_result {
    std::size_t bytes = 0;
    status state = status::ok;
  };

  // Throws std::bad_alloc when OpenSSL cannot allocate the session.
  tls_stream(SSL_CTX* ctx, int fd);
  ~tls_stream();
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;

  status handshake();
  // Reads decrypted bytes until `into` is full or the socket has no more.
  io_result read(std::span<std::uint8_t> into);
  // Encrypts and sends as much of `data` as the socket takes. After
  // want_write the next call must start with the same bytes (OpenSSL keeps
  // the record it could not send), which the connection's queue ensures.
  io_result write(const std::uint8_t* data, std::size_t size);
  // Decrypted or undecrypted bytes held inside OpenSSL, which the socket's
  // readiness does not show.
  bool has_pending() const;
  // Sends close_notify if the socket takes it now; never waits.
  void close_notify();

  // Why the last call failed (a certificate verification result, or
  // OpenSSL's reasons).
  const std::string& error() const { return error_; }
  X509* peer_certificate() const;       // null without one; owned by the session
  STACK_OF(X509) * peer_chain() const;  // what the client sent besides its certificate
  // Whether the client presented a certificate that verified.
  bool peer_verified() const;
  std::string version() const;

 private:
  status classify(int ret);

  SSL* ssl_;
  std::string error_;
};

}  // namespace convoy::runtime
