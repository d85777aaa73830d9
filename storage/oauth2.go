package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"

	"github.com/custodian-id/custodian/identity"
	"github.com/custodian-id/custodian/oauth"
)

// The Store is fosite's storage: every interface the composed handlers assert.
var (
	_ fosite.Storage                     = (*Store)(nil)
	_ oauth2.CoreStorage                 = (*Store)(nil)
	_ oauth2.TokenRevocationStorage      = (*Store)(nil)
	_ openid.OpenIDConnectRequestStorage = (*Store)(nil)
	_ pkce.PKCERequestStorage            = (*Store)(nil)
	_ oauth.TokenStore                   = (*Store)(nil)
)

// Kinds of rows in oauth2_tokens.
const (
	kindCode    = "code"
	kindAccess  = "access"
	kindRefresh = "refresh"
	kindPKCE    = "pkce"
	kindOIDC    = "oidc"
)

// storedRequest is the JSON form of a fosite.Requester. The client is stored by id and
// loaded afresh, so a deleted or changed client takes effect on its tokens.
type storedRequest struct {
	ID                string          `json:"id"`
	RequestedAt       time.Time       `json:"requested_at"`
	ClientID          string          `json:"client_id"`
	RequestedScope    []string        `json:"requested_scope"`
	GrantedScope      []string        `json:"granted_scope"`
	RequestedAudience []string        `json:"requested_audience"`
	GrantedAudience   []string        `json:"granted_audience"`
	Form              url.Values      `json:"form"`
	Session           json.RawMessage `json:"session"`
}

type tokenRow struct {
	Kind            string         `db:"kind"`
	Signature       string         `db:"signature"`
	RequestID       string         `db:"request_id"`
	Tenant          string         `db:"tenant"`
	ClientID        string         `db:"client_id"`
	Subject         string         `db:"subject"`
	SessionID       string         `db:"session_id"`
	JTI             sql.NullString `db:"jti"`
	AccessSignature sql.NullString `db:"access_signature"`
	RequestedAt     time.Time      `db:"requested_at"`
	ExpiresAt       sql.NullTime   `db:"expires_at"`
	Active          bool           `db:"active"`
	Revoked         bool           `db:"revoked"`
	RotatedAt       sql.NullTime   `db:"rotated_at"`
	GraceForks      int            `db:"grace_forks"`
	Request         string         `db:"request"`
}

// sensitiveForm lists form fields that never reach the database.
var sensitiveForm = []string{"client_secret", "password", "code_verifier", "refresh_token", "code", "client_assertion"}

func tenantOf(ctx context.Context) (string, error) {
	t := identity.TenantFromContext(ctx)
	if t == nil {
		return "", fmt.Errorf("no tenant in context: %w", fosite.ErrNotFound)
	}
	return t.Name, nil
}

// The statements of the token paths, prepared once per connection (prepared.go).
const (
	qInsertToken = `INSERT INTO oauth2_tokens
		(kind, signature, request_id, tenant, client_id, subject, session_id, device_id, jti, access_signature,
		 requested_at, expires_at, active, revoked, grace_forks, request, info)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`
	qGetToken = `SELECT kind, signature, request_id, tenant, client_id, subject, session_id, jti,
		access_signature, requested_at, expires_at, active, revoked, rotated_at, grace_forks, request
		FROM oauth2_tokens WHERE kind = ? AND signature = ? AND tenant = ?`
	qAccessTokenInfo = `SELECT t.request_id, t.client_id, t.subject, t.session_id, t.device_id, t.requested_at,
		t.expires_at, t.active, t.info, CASE WHEN t.info IS NULL THEN t.request END AS request
		FROM oauth2_tokens t JOIN clients c ON c.tenant = t.tenant AND c.id = t.client_id
		WHERE t.kind = ? AND t.signature = ? AND t.tenant = ?`
	// qRotate retires a live refresh token and the access token minted with it in one
	// statement and answers the kinds of the rows it changed: "refresh" among them
	// means this call rotated the token. The access token is found by the refresh
	// row's access_signature, which never changes, so the subquery does not depend on
	// whether the database evaluates it before or after the refresh row changes; of
	// two concurrent calls PostgreSQL re-checks the refresh row's condition for the
	// second after the first commits, so exactly one answers "refresh".
	qRotate = `UPDATE oauth2_tokens SET active = ?, rotated_at = CASE WHEN kind = ? THEN ? ELSE rotated_at END
		WHERE tenant = ? AND (
			(kind = ? AND signature = ? AND active = ? AND revoked = ?)
			OR (kind = ? AND signature = (
				SELECT access_signature FROM oauth2_tokens WHERE kind = ? AND signature = ? AND tenant = ?)))
		RETURNING kind`
	qGraceFork = `UPDATE oauth2_tokens SET grace_forks = grace_forks + 1
		WHERE kind = ? AND signature = ? AND tenant = ? AND active = ? AND revoked = ?
		AND rotated_at > ? AND grace_forks < ?`
	qAccessByJTI = `SELECT active, expires_at FROM oauth2_tokens WHERE jti = ? AND tenant = ? AND kind = ?`
)

func (s *Store) createToken(ctx context.Context, kind, signature, accessSignature string, req fosite.Requester, expType fosite.TokenType) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	form := url.Values{}
	for k, v := range req.GetRequestForm() {
		form[k] = v
	}
	for _, k := range sensitiveForm {
		form.Del(k)
	}
	sess, err := json.Marshal(req.GetSession())
	if err != nil {
		return fmt.Errorf("encode session: %w", err)
	}
	sr := storedRequest{
		ID:                req.GetID(),
		RequestedAt:       req.GetRequestedAt(),
		ClientID:          req.GetClient().GetID(),
		RequestedScope:    req.GetRequestedScopes(),
		GrantedScope:      req.GetGrantedScopes(),
		RequestedAudience: req.GetRequestedAudience(),
		GrantedAudience:   req.GetGrantedAudience(),
		Form:              form,
		Session:           sess,
	}
	body, err := json.Marshal(sr)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	var subject, sessionID, deviceID string
	var expires *time.Time
	if se := req.GetSession(); se != nil {
		subject = se.GetSubject()
		if exp := se.GetExpiresAt(expType); !exp.IsZero() {
			expires = &exp
		}
		if cs, ok := se.(*oauth.Session); ok {
			sessionID, deviceID = cs.SessionID, cs.DeviceID
		}
	}
	var jti, accSig, info sql.NullString
	if kind == kindAccess {
		jti = sql.NullString{String: oauth.JTIFromSignature(signature), Valid: true}
		ti := tokenInfo{Scopes: req.GetGrantedScopes(), Audience: req.GetGrantedAudience()}
		if cs, ok := req.GetSession().(*oauth.Session); ok {
			ti.AMR, ti.AccountID, ti.Anonymous, ti.ThirdParty = cs.AMR, cs.AccountID, cs.Anonymous, cs.ThirdParty
		}
		b, err := json.Marshal(ti)
		if err != nil {
			return fmt.Errorf("encode token info: %w", err)
		}
		info = sql.NullString{String: string(b), Valid: true}
	}
	if accessSignature != "" {
		accSig = sql.NullString{String: accessSignature, Valid: true}
	}
	_, err = s.exec(ctx, qInsertToken,
		kind, signature, req.GetID(), tenant, req.GetClient().GetID(), subject, sessionID, deviceID, jti, accSig,
		ts(req.GetRequestedAt()), nullTime(expires), true, false, string(body), info)
	if errors.Is(err, errUnique) {
		return fmt.Errorf("store %s token: %w", kind, fosite.ErrTokenClaim)
	}
	if err != nil {
		return fmt.Errorf("store %s token: %w", kind, err)
	}
	return nil
}

// getToken loads a row of the ctx tenant; rows of other tenants do not exist for it.
func (s *Store) getToken(ctx context.Context, kind, signature string) (*tokenRow, error) {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	var row tokenRow
	err = s.get(ctx, &row, qGetToken, kind, signature, tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s token: %w", kind, fosite.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load %s token: %w", kind, err)
	}
	return &row, nil
}

// hydrate rebuilds the fosite request of a row, decoding its session into session.
func (s *Store) hydrate(ctx context.Context, row *tokenRow, session fosite.Session) (fosite.Requester, error) {
	var sr storedRequest
	if err := json.Unmarshal([]byte(row.Request), &sr); err != nil {
		return nil, fmt.Errorf("decode stored request: %w", err)
	}
	if session != nil {
		if err := json.Unmarshal(sr.Session, session); err != nil {
			return nil, fmt.Errorf("decode stored session: %w", err)
		}
	}
	client, err := s.GetClient(ctx, sr.ClientID)
	if err != nil {
		return nil, fmt.Errorf("client of stored request: %w", err)
	}
	req := &fosite.Request{
		ID:                sr.ID,
		RequestedAt:       sr.RequestedAt,
		Client:            client,
		RequestedScope:    sr.RequestedScope,
		GrantedScope:      sr.GrantedScope,
		RequestedAudience: sr.RequestedAudience,
		GrantedAudience:   sr.GrantedAudience,
		Form:              sr.Form,
		Session:           session,
	}
	if req.Form == nil {
		req.Form = url.Values{}
	}
	return req, nil
}

func (s *Store) deleteToken(ctx context.Context, kind, signature string) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `DELETE FROM oauth2_tokens WHERE kind = ? AND signature = ? AND tenant = ?`, kind, signature, tenant); err != nil {
		return fmt.Errorf("delete %s token: %w", kind, err)
	}
	return nil
}

// revokeToken marks one token revoked, keeping the row so that a later presentation of
// the same token is recognised (refresh reuse detection needs that).
func (s *Store) revokeToken(ctx context.Context, kind, signature string) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ?
		WHERE kind = ? AND signature = ? AND tenant = ?`, false, true, kind, signature, tenant); err != nil {
		return fmt.Errorf("revoke %s token: %w", kind, err)
	}
	return nil
}

// --- authorization codes

func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createToken(ctx, kindCode, signature, "", req, fosite.AuthorizeCode)
}

// GetAuthorizeCodeSession returns the request of a code; for a used code it returns
// the request too, with fosite.ErrInvalidatedAuthorizeCode, so that fosite revokes the
// tokens the first exchange minted.
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindCode, signature)
	if err != nil {
		return nil, err
	}
	req, err := s.hydrate(ctx, row, session)
	if err != nil {
		return nil, err
	}
	// A code revoked with its subject's tokens (RevokeSubject) is gone, not reused.
	if row.Revoked {
		return nil, fmt.Errorf("authorization code revoked: %w", fosite.ErrNotFound)
	}
	if !row.Active {
		s.recordTokenEvent(ctx, identity.EventCodeReuse, row)
		return req, fosite.ErrInvalidatedAuthorizeCode
	}
	// fosite checks expiry against its own clock; the store checks against the
	// server's too, so a code never outlives tokens.code_ttl on either.
	if row.ExpiresAt.Valid && !s.clock().Before(row.ExpiresAt.Time) {
		return nil, fmt.Errorf("authorization code expired: %w", fosite.ErrNotFound)
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession marks a code used with one conditional update: of two
// concurrent exchanges exactly one wins.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	n, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ? WHERE kind = ? AND signature = ? AND tenant = ? AND active = ?`,
		false, kindCode, signature, tenant, true)
	if err != nil {
		return fmt.Errorf("invalidate code: %w", err)
	}
	if n == 0 {
		return fosite.ErrInvalidatedAuthorizeCode
	}
	return nil
}

// --- access tokens

func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createToken(ctx, kindAccess, signature, "", req, fosite.AccessToken)
}

func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindAccess, signature)
	if err != nil {
		return nil, err
	}
	if !row.Active {
		return nil, fmt.Errorf("access token revoked: %w", fosite.ErrInactiveToken)
	}
	return s.hydrate(ctx, row, session)
}

// tokenInfo is the info column of an access token: what validating it needs beyond
// the row's other columns, so that validation never decodes the stored request.
type tokenInfo struct {
	Scopes     []string `json:"scp,omitempty"`
	Audience   []string `json:"aud,omitempty"`
	AMR        []string `json:"amr,omitempty"`
	AccountID  string   `json:"acct,omitempty"`
	Anonymous  bool     `json:"anon,omitempty"`
	ThirdParty bool     `json:"tp,omitempty"`
}

// AccessTokenInfo describes the live access token of the ctx tenant with the
// signature, as GetAccessTokenSession would, in one statement that reads the row's
// columns and its info column but not the stored request (a token written before the
// info column is decoded from it), and checks in the same statement that its client
// still exists: a deleted client's tokens stop working. An unknown token (or one whose
// client is gone) is fosite.ErrNotFound, a revoked or rotated one
// fosite.ErrInactiveToken. The caller still checks the token's HMAC and expiry.
func (s *Store) AccessTokenInfo(ctx context.Context, signature string) (*oauth.AccessInfo, error) {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	var row struct {
		RequestID   string         `db:"request_id"`
		ClientID    string         `db:"client_id"`
		Subject     string         `db:"subject"`
		SessionID   string         `db:"session_id"`
		DeviceID    string         `db:"device_id"`
		RequestedAt time.Time      `db:"requested_at"`
		ExpiresAt   sql.NullTime   `db:"expires_at"`
		Active      bool           `db:"active"`
		Info        sql.NullString `db:"info"`
		Request     sql.NullString `db:"request"`
	}
	err = s.get(ctx, &row, qAccessTokenInfo, kindAccess, signature, tenant)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("access token: %w", fosite.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("load access token: %w", err)
	}
	if !row.Active {
		return nil, fmt.Errorf("access token revoked: %w", fosite.ErrInactiveToken)
	}
	var ti tokenInfo
	if row.Info.Valid {
		if err := json.Unmarshal([]byte(row.Info.String), &ti); err != nil {
			return nil, fmt.Errorf("decode token info: %w", err)
		}
	} else if ti, err = legacyTokenInfo(row.Request.String); err != nil {
		return nil, err
	}
	info := &oauth.AccessInfo{
		Tenant:     tenant,
		Subject:    row.Subject,
		ClientID:   row.ClientID,
		Scopes:     ti.Scopes,
		SessionID:  row.SessionID,
		Anonymous:  ti.Anonymous,
		AccountID:  ti.AccountID,
		AMR:        ti.AMR,
		Audience:   ti.Audience,
		ThirdParty: ti.ThirdParty,
		DeviceID:   row.DeviceID,
		IssuedAt:   row.RequestedAt.UTC(),
		RequestID:  row.RequestID,
		Use:        oauth.UseAccessToken,
	}
	if row.ExpiresAt.Valid {
		info.ExpiresAt = row.ExpiresAt.Time.UTC()
	}
	return info, nil
}

// legacyTokenInfo reads a token's info from its stored request, for rows written
// before the info column.
func legacyTokenInfo(request string) (tokenInfo, error) {
	var sr storedRequest
	if err := json.Unmarshal([]byte(request), &sr); err != nil {
		return tokenInfo{}, fmt.Errorf("decode stored request: %w", err)
	}
	sess := oauth.NewSession()
	if err := json.Unmarshal(sr.Session, sess); err != nil {
		return tokenInfo{}, fmt.Errorf("decode stored session: %w", err)
	}
	return tokenInfo{Scopes: sr.GrantedScope, Audience: sr.GrantedAudience, AMR: sess.AMR, AccountID: sess.AccountID,
		Anonymous: sess.Anonymous, ThirdParty: sess.ThirdParty}, nil
}

func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	return s.revokeToken(ctx, kindAccess, signature)
}

// RevokeAccessToken revokes every access token of a token family (RFC 7009).
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, kindAccess, requestID)
}

func (s *Store) revokeFamily(ctx context.Context, kind, requestID string) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ? WHERE kind = ? AND request_id = ? AND tenant = ?`,
		false, true, kind, requestID, tenant); err != nil {
		return fmt.Errorf("revoke %s tokens of family: %w", kind, err)
	}
	return nil
}

// --- refresh tokens

func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error {
	return s.createToken(ctx, kindRefresh, signature, accessSignature, req, fosite.RefreshToken)
}

// GetRefreshTokenSession returns the request of a refresh token. A token that was
// rotated moments ago (inside the grace period, with forks left) still counts as
// active so that concurrent callers succeed; any other inactive token is a reuse:
// it is recorded, and fosite.ErrInactiveToken makes fosite revoke the whole family.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindRefresh, signature)
	if err != nil {
		return nil, err
	}
	req, err := s.hydrate(ctx, row, session)
	if err != nil {
		return nil, err
	}
	if row.Active || s.inGrace(row) {
		return req, nil
	}
	s.recordTokenEvent(ctx, identity.EventRefreshReuse, row)
	return req, fosite.ErrInactiveToken
}

// PeekRefreshTokenSession returns the request of a refresh token a refresh would
// accept, like GetRefreshTokenSession but without recording anything: a used token is
// fosite.ErrInactiveToken and left for the refresh to detect as a reuse.
func (s *Store) PeekRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindRefresh, signature)
	if err != nil {
		return nil, err
	}
	if !row.Active && !s.inGrace(row) {
		return nil, fmt.Errorf("peek refresh token: %w", fosite.ErrInactiveToken)
	}
	return s.hydrate(ctx, row, session)
}

func (s *Store) inGrace(row *tokenRow) bool {
	return !row.Revoked && row.RotatedAt.Valid && s.graceperiod > 0 &&
		s.clock().Before(row.RotatedAt.Time.Add(s.graceperiod)) && row.GraceForks < s.graceforks
}

func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	return s.revokeToken(ctx, kindRefresh, signature)
}

// RevokeRefreshToken revokes every refresh token of a family, grace forks included.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	return s.revokeFamily(ctx, kindRefresh, requestID)
}

// RotateRefreshToken retires a refresh token as it is exchanged. The first caller
// rotates it (and revokes the access token minted with it); a concurrent caller
// inside the grace period takes one of the bounded forks instead. Both are single
// conditional updates, so the outcome does not depend on who read what first.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	tenant, err := tenantOf(ctx)
	if err != nil {
		return err
	}
	now := s.clock()
	var kinds []string
	if err := s.sel(ctx, &kinds, qRotate, false, kindRefresh, now, tenant,
		kindRefresh, signature, true, false, kindAccess, kindRefresh, signature, tenant); err != nil {
		return s.rotationErr(err)
	}
	if slices.Contains(kinds, kindRefresh) {
		return nil
	}
	// Not rotated here (used, revoked or unknown): the access token the statement may
	// have retired was retired with its refresh token already, and a failed rotation
	// rolls back with fosite's transaction.
	if s.graceperiod <= 0 {
		return fmt.Errorf("rotate refresh token: %w", fosite.ErrInactiveToken)
	}
	n, err := s.exec(ctx, qGraceFork,
		kindRefresh, signature, tenant, false, false, now.Add(-s.graceperiod), s.graceforks)
	if err != nil {
		return s.rotationErr(err)
	}
	if n == 0 {
		return fmt.Errorf("rotate refresh token: grace exhausted: %w", fosite.ErrInactiveToken)
	}
	return nil
}

func (s *Store) rotationErr(err error) error {
	if errors.Is(err, errConflict) {
		return fmt.Errorf("rotate refresh token: %w: %w", fosite.ErrSerializationFailure, err)
	}
	return fmt.Errorf("rotate refresh token: %w", err)
}

// --- PKCE and OpenID Connect request state, keyed by the authorization code

func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, req fosite.Requester) error {
	return s.createToken(ctx, kindPKCE, signature, "", req, fosite.AuthorizeCode)
}

func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindPKCE, signature)
	if err != nil {
		return nil, err
	}
	return s.hydrate(ctx, row, session)
}

func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	return s.deleteToken(ctx, kindPKCE, signature)
}

func (s *Store) CreateOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) error {
	return s.createToken(ctx, kindOIDC, code, "", req, fosite.AuthorizeCode)
}

func (s *Store) GetOpenIDConnectSession(ctx context.Context, code string, req fosite.Requester) (fosite.Requester, error) {
	row, err := s.getToken(ctx, kindOIDC, code)
	if err != nil {
		return nil, err
	}
	return s.hydrate(ctx, row, req.GetSession())
}

func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, code string) error {
	return s.deleteToken(ctx, kindOIDC, code)
}

// --- beyond fosite

// RevokeSession revokes every token that carries a shopper session id.
func (s *Store) RevokeSession(ctx context.Context, tenant, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ?
		WHERE tenant = ? AND session_id = ? AND kind IN (?, ?)`,
		false, true, tenant, sessionID, kindAccess, kindRefresh); err != nil {
		return fmt.Errorf("revoke session tokens: %w", err)
	}
	return nil
}

// RevokeSubject revokes every access and refresh token of a subject, and the
// authorization codes not yet exchanged (a sign-in in flight ends too).
func (s *Store) RevokeSubject(ctx context.Context, tenant, subject string) error {
	if _, err := s.exec(ctx, `UPDATE oauth2_tokens SET active = ?, revoked = ?
		WHERE tenant = ? AND subject = ? AND kind IN (?, ?, ?)`,
		false, true, tenant, subject, kindAccess, kindRefresh, kindCode); err != nil {
		return fmt.Errorf("revoke subject tokens: %w", err)
	}
	return nil
}

// AccessTokenByJTI reports whether the opaque access token behind a JWT access token is
// still active and unexpired.
func (s *Store) AccessTokenByJTI(ctx context.Context, tenant, jti string) (bool, error) {
	var row struct {
		Active    bool         `db:"active"`
		ExpiresAt sql.NullTime `db:"expires_at"`
	}
	err := s.get(ctx, &row, qAccessByJTI, jti, tenant, kindAccess)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up jti: %w", err)
	}
	if row.ExpiresAt.Valid && !s.clock().Before(row.ExpiresAt.Time) {
		return false, nil
	}
	return row.Active, nil
}

// FamilyByJTI returns the token family of the opaque twin of a JWT access token.
func (s *Store) FamilyByJTI(ctx context.Context, tenant, jti string) (string, error) {
	var family string
	err := s.get(ctx, &family, `SELECT request_id FROM oauth2_tokens WHERE jti = ? AND tenant = ? AND kind = ?`, jti, tenant, kindAccess)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("jti: %w", fosite.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("look up jti: %w", err)
	}
	return family, nil
}

// DeleteExpiredTokens removes tokens that expired before the cutoff; a maintenance
// loop calls it. Refresh tokens are kept until their own expiry so reuse detection
// keeps working for their whole life.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.exec(ctx, `DELETE FROM oauth2_tokens WHERE expires_at IS NOT NULL AND expires_at < ?`, ts(before))
	if err != nil {
		return 0, fmt.Errorf("delete expired tokens: %w", err)
	}
	return n, nil
}

// recordTokenEvent writes a security event for a replayed code or refresh token.
// Failing to record must not hide the replay, so the error is only logged.
func (s *Store) recordTokenEvent(ctx context.Context, kind string, row *tokenRow) {
	meta := identity.RequestMetaFromContext(ctx)
	err := s.RecordEvent(ctx, &identity.SecurityEvent{
		Tenant:    row.Tenant,
		Kind:      kind,
		ClientID:  row.ClientID,
		Subject:   row.Subject,
		IP:        meta.IP,
		UserAgent: meta.UserAgent,
		Detail:    map[string]any{"family": row.RequestID, "session_id": row.SessionID},
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record security event", "kind", kind, "err", err)
	}
}
