//! First-run set-up: until an administrator exists, the server serves only
//! the set-up page, reachable from the machine itself or with the one-time
//! code it prints in its log.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::secrets::{constant_time_eq, new_token};

#[derive(Default)]
pub struct SetupState {
    done: AtomicBool,
    code: Mutex<Option<String>>,
}

impl SetupState {
    pub fn new(has_admin: bool) -> Self {
        let state = SetupState::default();
        state.done.store(has_admin, Ordering::Release);
        state
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
