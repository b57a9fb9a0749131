//! First-run set-up: until an administrator exists, the server serves only
//! the set-up page, reachable from the machine itself or with the one-time
//! code it prints in its log, and only under a name the server answers to
//! ([`SetupState::host_allowed`]), so that a web page whose name was pointed
//! at this machine (DNS rebinding) cannot claim it through a visitor's browser.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::secrets::{constant_time_eq, new_token};

#[derive(Default)]
pub struct SetupState {
    done: AtomicBool,
    code: Mutex<Option<String>>,
    /// Host names, besides IP addresses and `localhost`, the server answers to
    /// (the host of `--public-url`).
    names: Vec<String>,
}

impl SetupState {
    pub fn new(has_admin: bool) -> Self {
        let state = SetupState::default();
        state.done.store(has_admin, Ordering::Release);
        state
    }

    /// Also accepts these host names during set-up (the host of the public URL).
    pub fn with_names(mut self, names: Vec<String>) -> Self {
        self.names = names.into_iter().map(|n| n.to_ascii_lowercase()).collect();
        self
    }

    /// True when a request's `Host` may reach set-up: an IP address (a name
    /// rebound to this machine is never one), `localhost`, or a configured
    /// name. A missing `Host` (HTTP/1.0 tools) is allowed.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host.map(str::trim) else { return true };
        let name = match host.strip_prefix('[') {
            Some(bracketed) => match bracketed.split_once(']') {
                Some((address, _)) => return address.parse::<std::net::Ipv6Addr>().is_ok(),
                None => return false,
            },
            None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name.parse::<std::net::IpAddr>().is_ok() || name == "localhost" || self.names.contains(&name)
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    pub fn mark_done(&self) {
        self.done.store(true, Ordering::Release);
        *self.code.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// A fresh one-time code for set-up from another machine.
    pub fn issue_code(&self) -> String {
        let code = new_token("setup-").chars().take(22).collect::<String>();
        *self.code.lock().unwrap_or_else(|p| p.into_inner()) = Some(code.clone());
        code
    }

    pub fn code_matches(&self, given: &str) -> bool {
        let code = self.code.lock().unwrap_or_else(|p| p.into_inner());
        code.as_deref().is_some_and(|code| constant_time_eq(code, given.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_up_answers_addresses_localhost_and_configured_names_only() {
        let setup = SetupState::new(false).with_names(vec!["Atlas.Example.org".into()]);
        for host in ["127.0.0.1:8080", "[::1]:8080", "10.1.2.3", "localhost:8080", "LOCALHOST", "atlas.example.org:443"]
        {
            assert!(setup.host_allowed(Some(host)), "{host}");
        }
        assert!(setup.host_allowed(None));
        for host in ["evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io:8080", "[not-an-address]:1", ""] {
            assert!(!setup.host_allowed(Some(host)), "{host}");
        }
    }
}
