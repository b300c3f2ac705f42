//! Signing in to the browser tests' pages (`vms_testkit::browser`) with the tests' one
//! password.

/// Opens `url` and signs in through the page's form (password, then the TOTP `code` if any).
pub async fn sign_in(
    c: &fantoccini::Client,
    url: &str,
    user: &str,
    code: Option<&str>,
) -> Result<(), fantoccini::error::CmdError> {
    vms_testkit::browser::sign_in(c, url, user, super::PASSWORD, code).await
}
