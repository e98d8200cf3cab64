//! What registry errors tell people to change, in the terms of the command at hand.

/// How the command at hand sets what a registry error may call for: its errors say it in the
/// command's own terms (an image list's keys for `create`, flags for `load` and `inventory`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hints {
    pub plain_http: &'static str,
    pub ca: &'static str,
    pub credentials: &'static str,
}

impl Hints {
    /// `create`: settings live in the image list.
    pub const IMAGE_LIST: Hints = Hints {
        plain_http: "add `plain-http: true` for it under registries: in the image list",
        ca: "give its CA as `ca-file: PEM` for it under registries: in the image list, or put it in /etc/docker/certs.d/HOST/ca.crt",
        credentials: "log in with `docker login`, or set username-env/password-env for it under registries: in the image list",
    };
    /// `create` from a plain-text list, which has no `registries:` section.
    pub const PLAIN_LIST: Hints = Hints {
        plain_http: "pass --plain-http (a plain-text list has no registries: section; write the list as YAML to set plain-http per registry)",
        ca: "put its CA in /etc/docker/certs.d/HOST/ca.crt (or write the list as YAML, with `ca-file: PEM` under registries:)",
        credentials: "log in with `docker login` (or write the list as YAML, with username-env/password-env under registries:)",
    };
    /// `load`, `inventory`: settings are flags.
    pub const FLAGS: Hints = Hints {
        plain_http: "pass --plain-http",
        ca: "pass --ca-file PEM with its CA, or put it in /etc/docker/certs.d/HOST/ca.crt",
        credentials: "log in with `docker login`, or pass --username USER --password-stdin",
    };
}

impl Default for Hints {
    fn default() -> Hints {
        Hints::IMAGE_LIST
    }
}
