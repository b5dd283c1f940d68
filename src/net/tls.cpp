#include "net/tls.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <stdexcept>

#include "core/sha256.h"

namespace printrelay {
namespace {

struct Closer {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(FILE* p) const { std::fclose(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Closer>;
using CertPtr = std::unique_ptr<X509, Closer>;

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("TLS setup failed: ") + what);
}

KeyPtr make_key() {
  KeyPtr k(EVP_EC_gen("P-256"));
  check(k != nullptr, "generate EC key");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "make certificate extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

CertPtr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                  long days, bool ca, const std::vector<std::string>& hosts) {
  CertPtr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 86400L);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("printrelay"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* iss = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
  // Key identifiers let a device trust several relays' CAs in one bundle and still pick the right
  // issuer for each server certificate.
  add_ext(cert.get(), iss, NID_subject_key_identifier, "hash");
  if (issuer) add_ext(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
  if (ca) {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(cert.get(), iss, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), iss, NID_key_usage, "critical,digitalSignature");
    add_ext(cert.get(), iss, NID_ext_key_usage, "serverAuth");
    std::string san;
    for (const auto& h : hosts) {
      if (!san.empty()) san += ",";
      bool ip = !h.empty() && (std::isdigit(static_cast<unsigned char>(h[0])) ||
                               h.find(':') != std::string::npos);
      san += (ip ? "IP:" : "DNS:") + h;
    }
    add_ext(cert.get(), iss, NID_subject_alt_name, san);
  }
  check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0, "sign certificate");
  return cert;
}

void write_pem_key(const std::string& path, EVP_PKEY* key) {
  std::unique_ptr<FILE, Closer> f(std::fopen(path.c_str(), "w"));
  check(f != nullptr, ("open " + path).c_str());
  chmod(path.c_str(), 0600);
  check(PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        ("write " + path).c_str());
}

void write_pem_cert(const std::string& path, X509* cert) {
  std::unique_ptr<FILE, Closer> f(std::fopen(path.c_str(), "w"));
  check(f != nullptr, ("open " + path).c_str());
  check(PEM_write_X509(f.get(), cert) == 1, ("write " + path).c_str());
}

}  // namespace

void write_quickstart_pki(const std::string& dir, const std::vector<std::string>& hosts) {
  KeyPtr ca_key = make_key();
  // A unique name per CA: two relays' quick-start CAs must not be mistaken for one another.
  CertPtr ca = make_cert(ca_key.get(), "printrelay quick-start CA " + random_hex(4), nullptr,
                         ca_key.get(), 3650, true, {});
  KeyPtr srv_key = make_key();
  CertPtr srv = make_cert(srv_key.get(), hosts.empty() ? "localhost" : hosts.front(), ca.get(),
                          ca_key.get(), 825, false, hosts);
  write_pem_key(dir + "/ca.key", ca_key.get());
  write_pem_cert(dir + "/ca.pem", ca.get());
  write_pem_key(dir + "/server.key", srv_key.get());
  write_pem_cert(dir + "/server.pem", srv.get());
}

void restrict_server_tls(SSL_CTX* ctx) {
  // TLS 1.2's AEAD suites with ECDHE, in the server's order: AES-128-GCM first (fast with
  // AES-NI, ample strength), ChaCha20-Poly1305 for clients without AES hardware. ECDSA for the
  // quick-start (P-256) certificates, RSA for operators' own.
  static constexpr const char* kTls12Suites =
      "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
      "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
      "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
  check(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1, "set TLS 1.2 as the minimum");
  check(SSL_CTX_set_cipher_list(ctx, kTls12Suites) == 1, "set the TLS 1.2 cipher suites");
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
}

std::string random_hex(std::size_t n_bytes) {
  std::vector<unsigned char> buf(n_bytes);
  if (RAND_bytes(buf.data(), int(buf.size())) != 1) {
    throw std::runtime_error("OpenSSL random generator failed");
  }
  return to_hex(buf.data(), buf.size());
}

std::string random_token(const std::string& prefix) { return prefix + random_hex(32); }

}  // namespace printrelay
