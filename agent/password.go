package agent

import (
	"crypto/rand"
	"fmt"
	"math/big"
)

// passwordSymbolGroups are nova's DEFAULT_PASSWORD_SYMBOLS: digits without 0 and 1, capitals
// without I and O, small letters without l.
var passwordSymbolGroups = []string{"23456789", "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz"}

// defaultPasswordLength is [DEFAULT] password_length's default.
const defaultPasswordLength = 12

// generatePassword is nova's utils.generate_password: length characters, at least one from
// each symbol group when length allows, in a random order, from the system's CSPRNG.
func generatePassword(length int) (string, error) {
	pick := func(set string) (byte, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, fmt.Errorf("generate password: %w", err)
		}
		return set[n.Int64()], nil
	}
	shuffle := func(b []byte) error {
		for i := len(b) - 1; i > 0; i-- {
			j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			if err != nil {
				return fmt.Errorf("generate password: %w", err)
			}
			b[i], b[j.Int64()] = b[j.Int64()], b[i]
		}
		return nil
	}
	var pw []byte
	for _, g := range passwordSymbolGroups {
		c, err := pick(g)
		if err != nil {
			return "", err
		}
		pw = append(pw, c)
	}
	// As nova: shuffle before truncating, so a length below the number of groups does not
	// always favour the first groups.
	if err := shuffle(pw); err != nil {
		return "", err
	}
	if length < len(pw) {
		pw = pw[:max(length, 0)]
	}
	all := passwordSymbolGroups[0] + passwordSymbolGroups[1] + passwordSymbolGroups[2]
	for len(pw) < length {
		c, err := pick(all)
		if err != nil {
			return "", err
		}
		pw = append(pw, c)
	}
	if err := shuffle(pw); err != nil {
		return "", err
	}
	return string(pw), nil
}
