//! `WWW-Authenticate` challenges (RFC 7235), the registry token protocol's answer, and the
//! cache of tokens by scope.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// Parse the first challenge we can use. Registries send one; some send `Basic` and `Bearer`
/// side by side, in which case Bearer wins because it is what their tokens are scoped by.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let mut best = None;
    for (scheme, params) in parse_all(header) {
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => {
                // An empty realm (`realm=` or `Realm==x`) names no token service to ask.
                if let Some(realm) = params.get("realm").filter(|r| !r.is_empty()) {
                    return Some(Challenge::Bearer {
                        realm: realm.clone(),
                        service: params.get("service").cloned(),
                    });
                }
            }
            "basic" => best = Some(Challenge::Basic),
            _ => {}
        }
    }
    best
}

/// `Scheme k=v, k="v, quoted", Scheme2 k=v` -> [(scheme, params)]
fn parse_all(header: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    let b = header.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && (b[*i] == b' ' || b[*i] == b'\t' || b[*i] == b',') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b',' | b'=' | b'"') {
            *i += 1;
        }
        header[start..*i].to_string()
    };
    loop {
        skip_ws(&mut i);
        if i >= b.len() {
            break;
        }
        let word = token(&mut i);
        if word.is_empty() {
            i += 1; // stray '=' or '"': skip it rather than loop forever
            continue;
        }
        // `word=` is a parameter of the current scheme; a bare word starts a new scheme.
        let mut j = i;
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        if j < b.len() && b[j] == b'=' && !out.is_empty() {
            i = j + 1;
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            let value = if i < b.len() && b[i] == b'"' {
                i += 1;
                let mut v = String::new();
                while i < b.len() && b[i] != b'"' {
                    if b[i] == b'\\' && i + 1 < b.len() {
                        i += 1;
                    }
                    // Push whole UTF-8 characters: a byte-wise push would split them.
                    let ch = header[i..].chars().next().unwrap_or('\u{fffd}');
                    v.push(ch);
                    i += ch.len_utf8();
                }
                i += 1;
                v
            } else {
                token(&mut i)
            };
            if let Some(last) = out.last_mut() {
                last.1.insert(word.to_ascii_lowercase(), value);
            }
        } else {
            out.push((word, BTreeMap::new()));
        }
    }
    out
}

#[derive(serde::Deserialize)]
pub struct TokenResponse {
    pub token: Option<String>,
    pub access_token: Option<String>,
    pub expires_in: Option<u64>,
}

/// Tokens live at least 60 s (the spec's default) and are trusted for at most a day, whatever a
/// token server claims: durations from the network are clamped before any clock arithmetic.
const MIN_TOKEN_LIFE: Duration = Duration::from_secs(60);
const MAX_TOKEN_LIFE: Duration = Duration::from_secs(24 * 3600);

impl TokenResponse {
    pub fn lifetime(&self) -> Duration {
        Duration::from_secs(self.expires_in.unwrap_or(60)).clamp(MIN_TOKEN_LIFE, MAX_TOKEN_LIFE)
    }
}

/// Bearer tokens by scope, with a single fetch at a time so parallel workers needing the same
/// scope wait for one answer instead of each asking the token server.
#[derive(Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    fetching: Mutex<()>,
}

impl TokenCache {
    /// A live token for `scope`, or the one `fetch` gets (token and lifetime).
    pub fn get_or_fetch<E>(
        &self,
        scope: &str,
        fetch: impl FnOnce() -> Result<(String, Duration), E>,
    ) -> Result<String, E> {
        if let Some(t) = self.live(scope) {
            return Ok(t);
        }
        let _one_at_a_time = self.fetching.lock().unwrap();
        if let Some(t) = self.live(scope) {
            return Ok(t);
        }
        let (token, life) = fetch()?;
        // Refresh a little early so a long download does not start with a dying token.
        let until = Instant::now()
            + life
                .min(MAX_TOKEN_LIFE)
                .saturating_sub(Duration::from_secs(15))
                .max(Duration::from_secs(5));
        self.tokens
            .lock()
            .unwrap()
            .insert(scope.to_string(), (token.clone(), until));
        Ok(token)
    }

    fn live(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    /// Every token held, live or not: what a server could echo back.
    pub fn all(&self) -> Vec<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.values().map(|(t, _)| t.clone()).collect()
    }

    /// Forget the token for `scope`, so the next request fetches a fresh one.
    pub fn forget(&self, scope: &str) {
        self.tokens.lock().unwrap().remove(scope);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_lifetimes_from_the_network_are_clamped() {
        let answer = |expires_in| TokenResponse {
            token: Some("t".into()),
            access_token: None,
            expires_in,
        };
        assert_eq!(answer(None).lifetime(), MIN_TOKEN_LIFE);
        assert_eq!(answer(Some(1 << 63)).lifetime(), MAX_TOKEN_LIFE);
        let cache = TokenCache::default();
        let got: Result<String, ()> = cache.get_or_fetch("s", || Ok(("t".into(), Duration::MAX)));
        assert_eq!(got.unwrap(), "t");
        let again: Result<String, ()> = cache.get_or_fetch("s", || panic!("fetched twice"));
        assert_eq!(again.unwrap(), "t");
        cache.forget("s");
        let third: Result<String, ()> =
            cache.get_or_fetch("s", || Ok(("u".into(), MIN_TOKEN_LIFE)));
        assert_eq!(third.unwrap(), "u");
    }

    #[test]
    fn an_empty_realm_is_not_a_usable_challenge() {
        // Found by the www_authenticate fuzz target.
        assert_eq!(parse_challenge("Bearer Realm==ht"), None);
        assert_eq!(
            parse_challenge("Basic realm=x, Bearer realm=\"\""),
            Some(Challenge::Basic)
        );
    }

    #[test]
    fn bearer_and_basic() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="basic-realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="x", Bearer realm="https://t/x""#),
            Some(Challenge::Bearer {
                realm: "https://t/x".into(),
                service: None
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert!(parse_challenge(r#"Bearer realm="é\"x","#).is_some());
        for junk in ["", "=", "\"", "Bearer realm=", "Bearer ====\"", ",,,"] {
            let _ = parse_challenge(junk);
        }
    }
}
