package providers

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
)

// MaxCredentialBytes bounds a credential file. API keys are short; anything
// larger is a mistake (a key store, a log file) rather than a key.
const MaxCredentialBytes = 16 << 10

const redacted = "[REDACTED]"

// Credential is a provider API secret (an API key, a token, a signing key in
// text form). It redacts itself everywhere it could leak by accident: String,
// GoString, every fmt verb, slog (LogValue), JSON and text marshalling. The
// only way to read the secret is Reveal, which adapters call in the one place
// that sets the request header.
//
// The zero Credential is empty (IsZero). Credentials are immutable, safe for
// concurrent use, and deliberately not comparable with ==.
type Credential struct {
	_ [0]func() // not comparable: compare secrets only where it is meant
	// The secret lives in a closure: fmt walks structs that hold a
	// Credential in an unexported field by reflection, without calling
	// Format, and prints strings and pointees but never a func's captures.
	reveal func() string
	source string // "env:NAME", "file:PATH" or "literal"; never the secret
}

// NewCredential wraps a secret that the caller already holds (a test, a fake,
// a value read by another mechanism). Surrounding white space is trimmed.
func NewCredential(secret string) Credential {
	return newCredential(strings.TrimSpace(secret), "literal")
}

// SecretValue wraps a secret value exactly as given (no trimming: an
// environment value's spaces are part of it), for LaunchSpec.SecretEnv.
func SecretValue(v string) Credential { return newCredential(v, "sealed") }

// LoadCredential reads a credential from the environment variable named env
// or from the file at path file; exactly one of the two must be non-empty.
// Configs name where the secret is, never the secret itself (DESIGN §7).
//
// The value is trimmed of surrounding white space (a trailing newline in a
// file is normal) and must not be empty. A file must be a regular file (a
// symlink to one is followed, as Kubernetes secret mounts use) of at most
// MaxCredentialBytes, and on Unix must not be readable by others or writable
// by group or others: LoadCredential refuses such a file rather than warn,
// because a warning in a log is easy to miss and the fix (chmod 600, or 640
// with a trusted group) is cheap. Group read is allowed for group-owned secret
// mounts.
//
// Errors name the variable or file, never the value.
func LoadCredential(env, file string) (Credential, error) {
	switch {
	case env != "" && file != "":
		return Credential{}, fmt.Errorf("providers: credential: set either env %q or file %q, not both", env, file)
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok {
			return Credential{}, fmt.Errorf("providers: credential: environment variable %s is not set", env)
		}
		v = strings.TrimSpace(v)
		if v == "" {
			return Credential{}, fmt.Errorf("providers: credential: environment variable %s is empty", env)
		}
		return newCredential(v, "env:"+env), nil
	case file != "":
		return loadCredentialFile(file)
	default:
		return Credential{}, errors.New("providers: credential: no environment variable or file configured")
	}
}

func newCredential(secret, source string) Credential {
	if secret == "" {
		return Credential{}
	}
	return Credential{reveal: func() string { return secret }, source: source}
}

func loadCredentialFile(path string) (Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return Credential{}, fmt.Errorf("providers: credential: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Credential{}, fmt.Errorf("providers: credential: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Credential{}, fmt.Errorf("providers: credential: %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o026 != 0 {
		return Credential{}, fmt.Errorf("providers: credential: %s has mode %04o: must not be readable by others or writable by group/others (chmod 600)", path, perm)
	}
	if fi.Size() > MaxCredentialBytes {
		return Credential{}, fmt.Errorf("providers: credential: %s is %d bytes, more than %d", path, fi.Size(), MaxCredentialBytes)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxCredentialBytes+1))
	if err != nil {
		return Credential{}, fmt.Errorf("providers: credential: read %s: %w", path, err)
	}
	if len(b) > MaxCredentialBytes {
		return Credential{}, fmt.Errorf("providers: credential: %s is larger than %d bytes", path, MaxCredentialBytes)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return Credential{}, fmt.Errorf("providers: credential: %s is empty", path)
	}
	return newCredential(v, "file:"+path), nil
}

// Reveal returns the secret. Call it only where the secret leaves the process
// (setting a request header, computing a signature); never log the result.
func (c Credential) Reveal() string {
	if c.reveal == nil {
		return ""
	}
	return c.reveal()
}

// IsZero reports whether c holds no secret.
func (c Credential) IsZero() bool { return c.reveal == nil }

// Source says where the credential came from ("env:VAST_API_KEY",
// "file:/run/secrets/salad", "literal", or "" for the zero Credential). It is
// safe to log.
func (c Credential) Source() string { return c.source }

// String returns "[REDACTED]" (or "[EMPTY]" for the zero Credential).
func (c Credential) String() string {
	if c.IsZero() {
		return "[EMPTY]"
	}
	return redacted
}

// GoString redacts, so %#v does not print the secret field.
func (c Credential) GoString() string { return "providers.Credential(" + c.String() + ")" }

// Format redacts for every verb, including %d and %x which would otherwise
// print the struct's fields.
func (c Credential) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		io.WriteString(f, c.GoString())
		return
	}
	io.WriteString(f, c.String())
}

// LogValue implements slog.LogValuer: the secret never reaches a handler.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.String()) }

// MarshalText implements encoding.TextMarshaler with the redacted form, so a
// config dump cannot leak the secret.
func (c Credential) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// MarshalJSON writes the redacted form as a JSON string.
func (c Credential) MarshalJSON() ([]byte, error) { return []byte(`"` + c.String() + `"`), nil }

var (
	_ fmt.Stringer   = Credential{}
	_ fmt.GoStringer = Credential{}
	_ fmt.Formatter  = Credential{}
	_ slog.LogValuer = Credential{}
)
