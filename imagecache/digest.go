package imagecache

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"strings"

	"github.com/novalet/novalet/openstack/glance"
)

// hashers are the os_hash_algo names Python's hashlib.new accepts that Go's standard library
// has. Glance's default, and what every deployment in practice uses, is sha512.
var hashers = map[string]func() hash.Hash{
	"md5":        md5.New,
	"sha1":       sha1.New,
	"sha224":     sha256.New224,
	"sha256":     sha256.New,
	"sha384":     sha512.New384,
	"sha512":     sha512.New,
	"sha512_224": sha512.New512_224,
	"sha512_256": sha512.New512_256,
	"sha3_224":   func() hash.Hash { return sha3.New224() },
	"sha3_256":   func() hash.Hash { return sha3.New256() },
	"sha3_384":   func() hash.Hash { return sha3.New384() },
	"sha3_512":   func() hash.Hash { return sha3.New512() },
}

// verifier checks the downloaded bytes the way glanceclient's data(do_checksum=True) does:
// os_hash_value with os_hash_algo if the image has one, else the MD5 checksum, else the
// Content-MD5 response header, else nothing.
type verifier struct {
	what string // "sha512", "md5 checksum", ...
	h    hash.Hash
	want string
}

// newVerifier picks the check; nil means the image carries nothing to check against. An
// os_hash_algo we cannot compute fails the download, as it does in glanceclient.
func newVerifier(img *glance.Image, contentMD5 string) (*verifier, error) {
	if img.OSHashValue != "" {
		algo := strings.ToLower(img.OSHashAlgo)
		mk, ok := hashers[algo]
		if !ok {
			return nil, classed(ErrInvalid, "unsupported os_hash_algo %q", img.OSHashAlgo)
		}
		return &verifier{what: algo, h: mk(), want: img.OSHashValue}, nil
	}
	if img.Checksum != "" {
		return &verifier{what: "md5 checksum", h: md5.New(), want: img.Checksum}, nil
	}
	if contentMD5 != "" {
		return &verifier{what: "Content-MD5", h: md5.New(), want: contentMD5}, nil
	}
	return nil, nil
}

func (v *verifier) Write(p []byte) (int, error) { return v.h.Write(p) }

// check compares the digest of everything written with the expected one.
func (v *verifier) check() error {
	got := hex.EncodeToString(v.h.Sum(nil))
	if !strings.EqualFold(got, v.want) {
		return classed(ErrCorrupt, "%s of the downloaded data is %s, Glance says %s", v.what, got, v.want)
	}
	return nil
}
