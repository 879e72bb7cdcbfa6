package clbsim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// TC3-HMAC-SHA256, as the SDK signs (common/client.go, sendWithSignatureV3).
const (
	signAlgorithm   = "TC3-HMAC-SHA256"
	unsignedPayload = "UNSIGNED-PAYLOAD"
	// MaxClockSkew is how far a request's X-TC-Timestamp may be from the
	// server's clock before AuthFailure.SignatureExpire.
	MaxClockSkew = 5 * time.Minute
)

// authorization is a parsed Authorization header.
type authorization struct {
	secretID, scope, signedHeaders, signature string
}

func parseAuthorization(h string) (authorization, bool) {
	var a authorization
	alg, rest, ok := strings.Cut(h, " ")
	if !ok || alg != signAlgorithm {
		return a, false
	}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, false
		}
		switch k {
		case "Credential":
			id, scope, ok := strings.Cut(v, "/")
			if !ok {
				return a, false
			}
			a.secretID, a.scope = id, scope
		case "SignedHeaders":
			a.signedHeaders = v
		case "Signature":
			a.signature = v
		}
	}
	return a, a.secretID != "" && a.signedHeaders != "" && a.signature != ""
}

// authenticate verifies the request's TC3 signature against the configured
// credentials at time now.
func (s *Server) authenticate(r *http.Request, body []byte, now time.Time) *apiError {
	auth, ok := parseAuthorization(r.Header.Get("Authorization"))
	if !ok {
		return fail(codeAuthInvalid, "The Authorization header is missing or is not a %s signature.", signAlgorithm)
	}
	key, ok := s.credentials[auth.secretID]
	if !ok {
		return fail(codeSecretIDNotFound, "The SecretId %s is not found; check that it exists and is enabled.", auth.secretID)
	}
	tsHeader := r.Header.Get("X-TC-Timestamp")
	if tsHeader == "" {
		return missing("X-TC-Timestamp")
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return fail(codeInvalidParameter, "X-TC-Timestamp %q is not a Unix time in seconds.", tsHeader)
	}
	signedAt := time.Unix(ts, 0).UTC()
	if skew := now.Sub(signedAt).Abs(); skew > MaxClockSkew {
		return fail(codeSignatureExpire, "The signature expired: X-TC-Timestamp %d is %s away from the server time; it must be within %s.",
			ts, skew.Truncate(time.Second), MaxClockSkew)
	}
	date := signedAt.Format("2006-01-02")
	scope := date + "/" + service + "/tc3_request"
	if auth.scope != scope {
		return fail(codeSignatureFailure, "The credential scope %q does not match %q.", auth.scope, scope)
	}
	canonicalHeaders, ok := canonicalHeaders(r, auth.signedHeaders)
	if !ok {
		return fail(codeSignatureFailure, "SignedHeaders %q must list content-type and host.", auth.signedHeaders)
	}
	payload := sha256.Sum256(body)
	hashedPayload := hex.EncodeToString(payload[:])
	if r.Header.Get("X-TC-Content-SHA256") == unsignedPayload {
		hashedPayload = sha256Hex(unsignedPayload)
	}
	canonicalRequest := r.Method + "\n/\n" + r.URL.RawQuery + "\n" + canonicalHeaders + "\n" + auth.signedHeaders + "\n" + hashedPayload
	stringToSign := signAlgorithm + "\n" + tsHeader + "\n" + scope + "\n" + sha256Hex(canonicalRequest)
	secretDate := hmacSHA256([]byte("TC3"+key), date)
	secretService := hmacSHA256(secretDate, service)
	secretSigning := hmacSHA256(secretService, "tc3_request")
	want := hmacSHA256(secretSigning, stringToSign)
	got, err := hex.DecodeString(auth.signature)
	if err != nil || !hmac.Equal(got, want) {
		return fail(codeSignatureFailure, "The signature does not match; check your SecretKey and how the request was signed.")
	}
	return nil
}

// canonicalHeaders builds the signed headers' lines (lowercased names,
// trimmed values, the host as received) in the order SignedHeaders lists
// them, as the SDK does.
func canonicalHeaders(r *http.Request, signed string) (string, bool) {
	var b strings.Builder
	var hasType, hasHost bool
	for name := range strings.SplitSeq(signed, ";") {
		name = strings.ToLower(strings.TrimSpace(name))
		value := r.Header.Get(name)
		switch name {
		case "host":
			hasHost, value = true, r.Host
		case "content-type":
			hasType = true
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.TrimSpace(value))
		b.WriteByte('\n')
	}
	return b.String(), hasType && hasHost
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func hmacSHA256(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}
