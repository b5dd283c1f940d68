// Ed25519 signatures over text (artifact manifests, docs/protocol.md "Artifacts"), with OpenSSL 3.
// Keys travel as PEM: PKCS#8 "PRIVATE KEY" and SubjectPublicKeyInfo "PUBLIC KEY", the forms
// `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` write, so a vendor may make its
// keys with either tool. Signatures are 64 bytes, written as 128 lower-case hex digits.
//
// Every function is stateless and thread-safe. A key that does not parse, is encrypted, or is not
// Ed25519 is bad input; an OpenSSL failure that is not the caller's fault is unavailable.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace printrelay {

struct SigningKey {
  std::string private_pem;  // keep secret: whoever holds it can sign firmware
  std::string public_pem;
};

// A fresh key pair from the OpenSSL CSPRNG.
Result<SigningKey> make_signing_key();

// The public PEM of a private key (relayctl signs with NAME.key and names the key by its id).
Result<std::string> public_pem_of(const std::string& private_pem);

// The key's short name in manifests: the first 16 hex digits of SHA-256 over the raw 32-byte
// public key. Stable across PEM re-encodings of the same key.
Result<std::string> key_id(const std::string& public_pem);

// Signs exactly the bytes of `text`; returns 128 lower-case hex digits.
Result<std::string> sign_text(std::string_view text, const std::string& private_pem);

// true when `signature_hex` is a valid signature of exactly `text` by the key; false when it is
// well-formed but does not verify (other text, other key). Bad input when the key is malformed or
// the signature is not 128 lower-case hex digits.
Result<bool> verify_text(std::string_view text, const std::string& signature_hex,
                         const std::string& public_pem);

}  // namespace printrelay
