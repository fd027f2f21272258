#include "runtime/edge/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace convoy::runtime {

namespace {

// The reasons OpenSSL queued for the last failure, oldest first; clears them.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(e, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

[[noreturn]] void fail(const std::string& key, const std::string& file, const std::string& what) {
  throw tls_error(key + " '" + file + "': " + what + " (" + openssl_errors() + ")");
}

// Loads every CRL of a PEM file into the store; at least one must be there.
void load_crls(X509_STORE* store, const std::string& file) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in{BIO_new_file(file.c_str(), "r"), &BIO_free};
  if (!in) fail("tls.crl_file", file, "cannot open");
  int loaded = 0;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(in.get(), nullptr, nullptr, nullptr)) {
    int ok = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    if (!ok) fail("tls.crl_file", file, "cannot add a CRL");
    ++loaded;
  }
  // The read loop ends with a "no start line" error at the end of the file.
  ERR_clear_error();
  if (loaded == 0) fail("tls.crl_file", file, "no CRL in PEM format");
}

}  // namespace

ssl_context_ptr make_server_tls_context(const config::node_config::tls_section& s) {
  ERR_clear_error();
  ssl_context_ptr ctx{SSL_CTX_new(TLS_server_method()), &SSL_CTX_free};
  if (!ctx) throw tls_error("cannot create a TLS context: " + openssl_errors());
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, s.min_version == "1.3" ? TLS1_3_VERSION : TLS1_2_VERSION);
  // Renegotiation would let a client make a write of ours wait for a read;
  // compression invites CRIME. Neither is needed by MQTT clients.
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // Idle connections, most of a fleet, give their record buffers back; a
  // write's unsent rest may be handed over again from another address.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                          SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(c, s.cert_file.c_str()) != 1)
    fail("tls.cert_file", s.cert_file, "cannot load the certificate chain");
  if (SSL_CTX_use_PrivateKey_file(c, s.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
      fail("tls.key_file", s.key_file, "does not match the certificate in " + s.cert_file);
    fail("tls.key_file", s.key_file, "cannot load the private key");
  }
  if (SSL_CTX_check_private_key(c) != 1)
    fail("tls.key_file", s.key_file, "does not match the certificate in " + s.cert_file);

  if (s.client_certificates != "none") {
    if (SSL_CTX_load_verify_locations(c, s.ca_file.c_str(), nullptr) != 1)
      fail("tls.ca_file", s.ca_file, "cannot load the client CA certificates");
    // The CAs are named in the CertificateRequest so clients with several
    // certificates pick the right one.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str()))
      SSL_CTX_set_client_CA_list(c, names);
    int mode = SSL_VERIFY_PEER;
    if (s.client_certificates == "required") mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, nullptr);
    SSL_CTX_set_verify_depth(c, 8);
    if (!s.crl_file.empty()) {
      X509_STORE* store = SSL_CTX_get_cert_store(c);
      load_crls(store, s.crl_file);
      // Every certificate of the chain, not just the leaf: a revoked
      // intermediate takes its devices with it.
      X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
    }
  }
  // Session resumption by ticket: a fleet reconnecting after a cellular
  // outage skips the full handshake.
  static const unsigned char context_id[] = "convoy-mqtt";
  SSL_CTX_set_session_id_context(c, context_id, sizeof context_id - 1);
  // Tickets are stateless; a server-side session cache would keep every
  // connection's session (several KiB each) for its lifetime and more.
  SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
  ERR_clear_error();
  return ctx;
}

std::optional<std::string> verify_against(SSL_CTX* ctx, X509* cert, STACK_OF(X509) * chain) {
  if (!cert) return std::nullopt;
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> check{X509_STORE_CTX_new(),
                                                                        &X509_STORE_CTX_free};
  if (!check || X509_STORE_CTX_init(check.get(), SSL_CTX_get_cert_store(ctx), cert, chain) != 1) {
    ERR_clear_error();
    return std::nullopt;  // out of memory: not a reason to drop a client
  }
  X509_STORE_CTX_set_purpose(check.get(), X509_PURPOSE_SSL_CLIENT);
  int ok = X509_verify_cert(check.get());
  ERR_clear_error();
  if (ok == 1) return std::nullopt;
  return X509_verify_cert_error_string(X509_STORE_CTX_get_error(check.get()));
}

tls_context_source::tls_context_source(config::node_config::tls_section settings)
    : settings_(std::move(settings)) {
  loaded_ = stat_files();
  current_ = make_server_tls_context(settings_);
}

ssl_context_ptr tls_context_source::current() const {
  std::lock_guard lock{mutex_};
  return current_;
}

tls_context_source::stamps tls_context_source::stat_files() const {
  return {file_stamp::of(settings_.cert_file), file_stamp::of(settings_.key_file),
          file_stamp::of(settings_.ca_file), file_stamp::of(settings_.crl_file)};
}

tls_context_source::reload_result tls_context_source::reload(bool force) {
  reload_result result;
  stamps now = stat_files();
  stamps before;
  {
    std::lock_guard lock{mutex_};
    before = loaded_;
  }
  if (!force && now == before) return result;
  {
    std::lock_guard lock{mutex_};
    if (!force && failed_ == now) return result;
  }
  ssl_context_ptr fresh;
  try {
    fresh = make_server_tls_context(settings_);
  } catch (const tls_error& e) {
    // Half-written files (a certificate copied before its key) fail here
    // and load on a later check once both are in place.
    result.error = e.what();
    std::lock_guard lock{mutex_};
    failed_ = now;
    return result;
  }
  std::lock_guard lock{mutex_};
  current_ = std::move(fresh);
  loaded_ = now;
  failed_.reset();
  result.reloaded = true;
  result.trust_changed = force || now.ca != before.ca || now.crl != before.crl;
  return result;
}

}  // namespace convoy::runtime
