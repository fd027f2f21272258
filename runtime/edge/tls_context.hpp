#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

#include <openssl/ssl.h>

#include "config/config.hpp"
#include "runtime/node/file_stamp.hpp"

namespace convoy::runtime {

// A TLS file that cannot be used; the message names the file and says why.
class tls_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using ssl_context_ptr = std::shared_ptr<SSL_CTX>;

// The server's SSL_CTX from [tls]: certificate and key, the client CAs and
// CRL, the client certificate mode and the oldest version. Throws tls_error.
ssl_context_ptr make_server_tls_context(const config::node_config::tls_section& settings);

// Why `cert` (with the chain the client sent) would not pass the handshake
// under `ctx` now, or nothing when it would: for clients that connected
// before a CRL or CA file changed.
std::optional<std::string> verify_against(SSL_CTX* ctx, X509* cert, STACK_OF(X509) * chain);

// The current server context, replaced when its files change. Connections
// take the context at accept and keep it, so a reload affects only new
// handshakes; clients already connected are checked against a new CRL or CA
// by the caller of reload().
class tls_context_source {
 public:
  // Loads the files; throws tls_error when they are unusable.
  explicit tls_context_source(config::node_config::tls_section settings);

  ssl_context_ptr current() const;

  struct reload_result {
    bool reloaded = false;       // a new context is in use
    bool trust_changed = false;  // and its CA or CRL file differs from before
    std::string error;           // why the files could not be loaded; the old context stays
  };
  // Reloads when a file changed since the last load (size or modification
  // time), or always when forced (SIGHUP).
  reload_result reload(bool force);

  const config::node_config::tls_section& settings() const { return settings_; }

 private:
  struct stamps {
    file_stamp cert, key, ca, crl;
    bool operator==(const stamps&) const = default;
  };
  stamps stat_files() const;

  config::node_config::tls_section settings_;
  mutable std::mutex mutex_;
  ssl_context_ptr current_;
  stamps loaded_;
  // Files that failed to load, so a broken state is reported once and not
  // at every check until someone fixes it.
  std::optional<stamps> failed_;
};

}  // namespace convoy::runtime
