//! Console login: an access key id and secret (checked against the engine's key store) buy a
//! session cookie. The cookie holds only a random token; the session itself (whose key, until
//! when) stays in server memory, so logging out or revoking the key ends it at once, and a
//! restart logs everyone out.

use super::view;
use crate::ServerState;
use crate::auth::constant_time_eq;
use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use parking_lot::Mutex;
use rand::RngCore;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session cookie's name.
const COOKIE: &str = "pier_session";
/// How long a login lasts; the cookie and the server-side session expire together.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Random bytes in a session token (hex-encoded in the cookie).
const TOKEN_BYTES: usize = 32;

struct Session {
    key_id: String,
    expires: Instant,
}

/// The logged-in browsers, by session token.
#[derive(Default)]
pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session for `key_id`; returns its token. Expired sessions are dropped here, so
    /// the map holds at most the logins of the last [`SESSION_TTL`].
    fn open(&self, key_id: &str) -> String {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut sessions = self.by_token.lock();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            token.clone(),
            Session {
                key_id: key_id.to_string(),
                expires: now + SESSION_TTL,
            },
        );
        token
    }

    /// The key id of a live session whose key is still active.
    fn check(&self, token: &str, state: &ServerState) -> Option<String> {
        let key_id = {
            let sessions = self.by_token.lock();
            let s = sessions.get(token)?;
            (s.expires > Instant::now()).then(|| s.key_id.clone())?
        };
        // A revoked key ends its sessions: the console is no back door around revocation.
        state.engine.keys().secret_for(&key_id).map(|_| key_id)
    }

    fn close(&self, token: &str) {
        self.by_token.lock().remove(token);
    }
}

/// Extractor: the request comes from a logged-in browser. Otherwise the answer is a redirect to
/// the login page, which comes back here afterwards.
pub struct Viewer {
    /// The access key the browser logged in with.
    pub key_id: String,
}

impl FromRequestParts<Arc<ServerState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ServerState>,
    ) -> Result<Viewer, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        if let Some(key_id) = jar
            .get(COOKIE)
            .and_then(|c| state.console.sessions.check(c.value(), state))
        {
            return Ok(Viewer { key_id });
        }
        let here = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let next: String = form_urlencoded::byte_serialize(here.as_bytes()).collect();
        Err(Redirect::to(&format!("/login?next={next}")).into_response())
    }
}

/// Where to go after logging in: only a path on this server, never another site (an attacker's
/// `?next=//evil.example` must not turn the login page into an open redirect).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

#[derive(Deserialize)]
pub(super) struct NextQuery {
    next: Option<String>,
}

/// `GET /login`
pub(super) async fn login_page(Query(q): Query<NextQuery>) -> Response {
    view::login(local_path(q.next.as_deref()), None).into_response()
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    key_id: String,
    secret: String,
    next: Option<String>,
}

/// `POST /login`
pub(super) async fn login(
    State(state): State<Arc<ServerState>>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref());
    let key_id = form.key_id.trim();
    let valid = state
        .engine
        .keys()
        .secret_for(key_id)
        .is_some_and(|s| constant_time_eq(s.as_bytes(), form.secret.as_bytes()));
    if !valid {
        // One message for an unknown id and a wrong secret: the page does not confirm ids.
        let page = view::login(
            next,
            Some("That access key id and secret do not match an active key."),
        );
        return (StatusCode::UNAUTHORIZED, page).into_response();
    }
    let token = state.console.sessions.open(key_id);
    // No `Secure` attribute: pier serves plain HTTP (put TLS in front of it for remote use);
    // a Secure cookie would never come back over http://127.0.0.1.
    let cookie = Cookie::build((COOKIE, token))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .max_age(time::Duration::seconds(SESSION_TTL.as_secs() as i64));
    (jar.add(cookie), Redirect::to(next)).into_response()
}

/// `POST /logout` (a POST so that a link elsewhere cannot log anyone out; the SameSite=Strict
/// cookie keeps other sites from posting it).
pub(super) async fn logout(State(state): State<Arc<ServerState>>, jar: CookieJar) -> Response {
    if let Some(c) = jar.get(COOKIE) {
        state.console.sessions.close(c.value());
    }
    let gone = Cookie::build((COOKIE, "")).path("/");
    (jar.remove(gone), Redirect::to("/login")).into_response()
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(
            local_path(Some("/apps/a/errors?code=7302")),
            "/apps/a/errors?code=7302"
        );
        for bad in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "apps",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
