#include "runtime/edge/tls_stream.hpp"

#include <limits>
#include <new>

#include <openssl/err.h>

namespace convoy::runtime {

tls_stream::tls_stream(SSL_CTX* ctx, int fd) : ssl_(SSL_new(ctx)) {
  if (!ssl_ || SSL_set_fd(ssl_, fd) != 1) {
    ERR_clear_error();
    if (ssl_) SSL_free(ssl_);
    throw std::bad_alloc();
  }
  SSL_set_accept_state(ssl_);
}

tls_stream::~tls_stream() {
  SSL_free(ssl_);
}

tls_stream::status tls_stream::classify(int ret) {
  int e = SSL_get_error(ssl_, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return status::want_read;
    case SSL_ERROR_WANT_WRITE:
      return status::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return status::closed;
    case SSL_ERROR_SYSCALL:
      // EOF without close_notify, or a socket error: the peer is gone.
      ERR_clear_error();
      error_ = "connection closed during TLS";
      return status::closed;
    default:
      break;
  }
  long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    error_ =
        std::string{"certificate verification failed: "} + X509_verify_cert_error_string(verify);
  } else {
    error_.clear();
  }
  while (unsigned long err = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(err, text, sizeof text);
    if (!error_.empty()) error_ += "; ";
    error_ += text;
  }
  if (error_.empty()) error_ = "TLS error " + std::to_string(e);
  return status::failed;
}

tls_stream::status tls_stream::handshake() {
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  return ret == 1 ? status::ok : classify(ret);
}

tls_stream::io_result tls_stream::read(std::span<std::uint8_t> into) {
  io_result r;
  while (r.bytes < into.size()) {
    ERR_clear_error();
    std::size_t room =
        std::min<std::size_t>(into.size() - r.bytes, std::numeric_limits<int>::max());
    int n = SSL_read(ssl_, into.data() + r.bytes, static_cast<int>(room));
    if (n <= 0) {
      r.state = classify(n);
      return r;
    }
    r.bytes += static_cast<std::size_t>(n);
  }
  return r;
}

tls_stream::io_result tls_stream::write(const std::uint8_t* data, std::size_t size) {
  io_result r;
  while (r.bytes < size) {
    ERR_clear_error();
    std::size_t chunk = std::min<std::size_t>(size - r.bytes, std::numeric_limits<int>::max());
    int n = SSL_write(ssl_, data + r.bytes, static_cast<int>(chunk));
    if (n <= 0) {
      r.state = classify(n);
      return r;
    }
    r.bytes += static_cast<std::size_t>(n);
  }
  return r;
}

bool tls_stream::has_pending() const {
  return SSL_has_pending(ssl_) == 1;
}

void tls_stream::close_notify() {
  ERR_clear_error();
  if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
  ERR_clear_error();
}

X509* tls_stream::peer_certificate() const {
  return SSL_get0_peer_certificate(ssl_);
}

STACK_OF(X509) * tls_stream::peer_chain() const {
  return SSL_get_peer_cert_chain(ssl_);
}

bool tls_stream::peer_verified() const {
  return peer_certificate() && SSL_get_verify_result(ssl_) == X509_V_OK;
}

std::string tls_stream::version() const {
  return SSL_get_version(ssl_);
}

}  // namespace convoy::runtime
