#include "net/signing.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <array>
#include <memory>

#include "core/sha256.h"

namespace printrelay {
namespace {

constexpr std::size_t kPublicKeyBytes = 32;
constexpr std::size_t kSignatureBytes = 64;

struct Closer {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, Closer>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Closer>;
using BioPtr = std::unique_ptr<BIO, Closer>;

// The OpenSSL error queue is per thread and shared with the TLS code: a failure handled here must
// not be reported again by the next, unrelated TLS call on this thread.
Error openssl_error(Error e) {
  ERR_clear_error();
  return e;
}

// Refuses to prompt on the terminal for an encrypted key's passphrase (OpenSSL's default).
int no_passphrase(char*, int, int, void*) { return 0; }

bool is_ed25519(const EVP_PKEY* key) { return EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519; }

Result<KeyPtr> read_private(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  if (!bio) return openssl_error(unavailable("OpenSSL: cannot allocate a memory BIO"));
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) {
    return openssl_error(
        bad_input("private key is not an unencrypted PEM private key (PKCS#8 \"PRIVATE KEY\")"));
  }
  if (!is_ed25519(key.get())) return bad_input("private key is not an Ed25519 key");
  return key;
}

Result<KeyPtr> read_public(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
  if (!bio) return openssl_error(unavailable("OpenSSL: cannot allocate a memory BIO"));
  KeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, no_passphrase, nullptr));
  if (!key) return openssl_error(bad_input("public key is not a PEM public key (\"PUBLIC KEY\")"));
  if (!is_ed25519(key.get())) return bad_input("public key is not an Ed25519 key");
  return key;
}

// PEM text written by `write` into a memory BIO.
template <typename Write>
Result<std::string> pem_text(const Write& write, const char* what) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || write(bio.get()) != 1) {
    return openssl_error(unavailable(std::string("OpenSSL: cannot write the ") + what));
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, std::size_t(n));
}

Result<std::string> public_pem_of_key(EVP_PKEY* key) {
  return pem_text([key](BIO* b) { return PEM_write_bio_PUBKEY(b, key); }, "public key");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

Result<SigningKey> make_signing_key() {
  KeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return openssl_error(unavailable("OpenSSL: cannot generate an Ed25519 key"));
  auto private_pem = pem_text(
      [&key](BIO* b) {
        return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
      },
      "private key");
  if (!private_pem) return private_pem.error();
  auto public_pem = public_pem_of_key(key.get());
  if (!public_pem) return public_pem.error();
  return SigningKey{std::move(*private_pem), std::move(*public_pem)};
}

Result<std::string> public_pem_of(const std::string& private_pem) {
  auto key = read_private(private_pem);
  if (!key) return key.error();
  return public_pem_of_key(key->get());
}

Result<std::string> key_id(const std::string& public_pem) {
  auto key = read_public(public_pem);
  if (!key) return key.error();
  std::array<unsigned char, kPublicKeyBytes> raw{};
  std::size_t n = raw.size();
  if (EVP_PKEY_get_raw_public_key(key->get(), raw.data(), &n) != 1 || n != raw.size()) {
    return openssl_error(bad_input("public key: cannot read the raw Ed25519 key"));
  }
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(raw.data()), n)).substr(0, 16);
}

Result<std::string> sign_text(std::string_view text, const std::string& private_pem) {
  auto key = read_private(private_pem);
  if (!key) return key.error();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  // Ed25519 hashes internally (PureEdDSA): no digest is named, and the text is signed in one go.
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return openssl_error(unavailable("OpenSSL: cannot start an Ed25519 signature"));
  }
  std::array<unsigned char, kSignatureBytes> signature{};
  std::size_t n = signature.size();
  if (EVP_DigestSign(ctx.get(), signature.data(), &n,
                     reinterpret_cast<const unsigned char*>(text.data()), text.size()) != 1 ||
      n != signature.size()) {
    return openssl_error(unavailable("OpenSSL: Ed25519 signing failed"));
  }
  return to_hex(signature.data(), n);
}

Result<bool> verify_text(std::string_view text, const std::string& signature_hex,
                         const std::string& public_pem) {
  if (signature_hex.size() != kSignatureBytes * 2) {
    return bad_input("signature must be 128 lower-case hex digits");
  }
  std::array<unsigned char, kSignatureBytes> signature{};
  for (std::size_t i = 0; i < signature.size(); ++i) {
    int hi = hex_value(signature_hex[2 * i]);
    int lo = hex_value(signature_hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return bad_input("signature must be 128 lower-case hex digits");
    signature[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  auto key = read_public(public_pem);
  if (!key) return key.error();
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return openssl_error(unavailable("OpenSSL: cannot start an Ed25519 verification"));
  }
  int rc = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                            reinterpret_cast<const unsigned char*>(text.data()), text.size());
  // 1 verified; 0 (or, for some malformed signatures, a negative value) did not verify. The key
  // and the signature's form are already checked, so anything but 1 is "not this text by this key".
  ERR_clear_error();
  return rc == 1;
}

}  // namespace printrelay
