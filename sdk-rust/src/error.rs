//! The SDK's error type: a message for the host plus the ABI status it maps to.

use std::borrow::Cow;
use std::fmt;

use crate::abi::status;

/// Result with the SDK's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// An operator failure.
///
/// Returned from a per-record function (`map`, `process`, ...) it becomes an
/// `error` entry for that record carrying [`Error::message`]; the host then
/// applies the job's error policy. Returned from `open` or an aggregate
/// function it fails the whole call with [`Error::status`] (and the message
/// goes to the task's log).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    status: i32,
    message: Cow<'static, str>,
}

impl Error {
    /// A failure of the user function (status `user_error`).
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Error { status: status::USER_ERROR, message: message.into() }
    }

    /// A configuration or argument the function cannot accept (status
    /// `invalid_argument`); what `open` returns for bad configuration.
    pub fn invalid_argument(message: impl Into<Cow<'static, str>>) -> Self {
        Error { status: status::INVALID_ARGUMENT, message: message.into() }
    }

    /// A host function failed with a negative `status` while doing `what`.
    pub fn host(what: &'static str, status: i32) -> Self {
        Error { status, message: Cow::Owned(format!("{}: {}", what, status_name(status))) }
    }

    /// A host call on a named handle failed: `value state "flag": put:
    /// state_error`.
    pub(crate) fn host_named(what: &str, name: &str, op: &str, status: i32) -> Self {
        Error { status, message: Cow::Owned(format!("{} {:?}: {}: {}", what, name, op, status_name(status))) }
    }

    /// The ABI status this error maps to (negative).
    pub fn status(&self) -> i32 {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {:?})", status_name(self.status), self.message)
    }
}

impl std::error::Error for Error {}

impl From<&'static str> for Error {
    fn from(m: &'static str) -> Self {
        Error::new(m)
    }
}

impl From<String> for Error {
    fn from(m: String) -> Self {
        Error::new(m)
    }
}

impl From<core::str::Utf8Error> for Error {
    fn from(e: core::str::Utf8Error) -> Self {
        Error::new(e.to_string())
    }
}

/// Converts a host function's i32 result into a `Result`: non-negative values
/// pass through, negative ones become [`Error::host`].
pub(crate) fn check(what: &'static str, r: i32) -> Result<i32> {
    if r < 0 {
        Err(Error::host(what, r))
    } else {
        Ok(r)
    }
}

/// The ABI name of a status code (`"state_error"`), or `"status(n)"`.
pub fn status_name(code: i32) -> Cow<'static, str> {
    Cow::Borrowed(match code {
        status::OK => "ok",
        status::NOT_FOUND => "not_found",
        status::INVALID_ARGUMENT => "invalid_argument",
        status::UNKNOWN_HANDLE => "unknown_handle",
        status::NO_CURRENT_KEY => "no_current_key",
        status::STATE_ERROR => "state_error",
        status::KIND_MISMATCH => "kind_mismatch",
        status::UNSUPPORTED => "unsupported",
        status::USER_ERROR => "user_error",
        status::BAD_INPUT => "bad_input",
        status::OUT_OF_MEMORY => "out_of_memory",
        status::UNKNOWN_FUNCTION => "unknown_function",
        status::INTERNAL => "internal",
        other => return Cow::Owned(format!("status({})", other)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_status_and_message() {
        let cases = [
            (Error::new("boom"), status::USER_ERROR, "boom"),
            (Error::from(String::from("owned")), status::USER_ERROR, "owned"),
            (Error::invalid_argument("field is required"), status::INVALID_ARGUMENT, "field is required"),
            (Error::host("value_put", status::STATE_ERROR), status::STATE_ERROR, "value_put: state_error"),
            (Error::host("x", -99), -99, "x: status(-99)"),
        ];
        for (e, st, msg) in cases {
            assert_eq!(e.status(), st);
            assert_eq!(e.message(), msg);
            assert_eq!(e.to_string(), msg);
        }
        assert_eq!(check("op", 3), Ok(3));
        assert_eq!(check("op", status::NOT_FOUND).unwrap_err().status(), status::NOT_FOUND);
    }
}
