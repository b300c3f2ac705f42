//! Self-service sign-up (public): the terms to accept, the sign-up that mails a verification
//! link, and the verification that makes the partner and its portal account. Available only
//! when email is set up (the address is what is verified); a budget per source address.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use vms_program::notices::Email;
use vms_program::signup::{NewSignup, TERMS_TEXT};

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::server::PeerIp;
use crate::state::AppState;

#[derive(Serialize)]
pub(crate) struct SignupInfo {
    /// Whether sign-up is open (email is set up).
    available: bool,
    terms_version: String,
    terms_text: &'static str,
}

/// `GET /api/signup`: what the sign-up page shows.
pub(crate) async fn info(State(st): State<AppState>) -> Json<SignupInfo> {
    Json(SignupInfo {
        available: st.settings.mail.is_some(),
        terms_version: st.program.settings().terms_version.clone(),
        terms_text: TERMS_TEXT,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignupBody {
    contact_name: String,
    contact_email: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    address: String,
    username: String,
    password: String,
    terms_version: String,
    accept_terms: bool,
}

#[derive(Serialize)]
pub(crate) struct SignupOut {
    /// Where the verification link went.
    sent_to: String,
}

/// `POST /api/signup`: keeps the sign-up waiting and mails the verification link.
pub(crate) async fn sign_up(
    State(st): State<AppState>,
    peer: PeerIp,
    ApiJson(b): ApiJson<SignupBody>,
) -> ApiResult<(StatusCode, Json<SignupOut>)> {
    let Some(mail) = st.settings.mail.clone() else {
        return Err(ApiError::Unavailable(
            "sign-up is not open here: ask the police department to register you".into(),
        ));
    };
    let from = peer.text();
    if !st.take_signup(&from) {
        return Err(ApiError::TooManyRequests(format!(
            "at most {} sign-ups an hour from one address: try again later",
            st.settings.signups_per_hour
        )));
    }
    let url = mail.public_url.clone();
    let v = st
        .blocking(move |st| {
            Ok(st.program.sign_up(
                NewSignup {
                    contact_name: &b.contact_name,
                    contact_email: &b.contact_email,
                    contact_phone: &b.contact_phone,
                    address: &b.address,
                    username: &b.username,
                    password: &b.password,
                    terms_version: &b.terms_version,
                    accept_terms: b.accept_terms,
                    remote_addr: &from,
                },
                &url,
            )?)
        })
        .await?;
    let email = Email {
        to: v.to.clone(),
        subject: v.subject,
        body: v.body,
    };
    if let Err(e) = crate::mailer::send_now(&mail, &email).await {
        tracing::warn!(error = %e, "sign-up verification not sent");
        return Err(ApiError::Unavailable(
            "the confirmation email could not be sent to that address just now: check it, or try again later".into(),
        ));
    }
    Ok((StatusCode::ACCEPTED, Json(SignupOut { sent_to: v.to })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyBody {
    token: String,
}

#[derive(Serialize)]
pub(crate) struct VerifiedOut {
    pseudonym: String,
}

/// `POST /api/signup/verify`: the emailed link's token; the partner and its account exist
/// from here on.
pub(crate) async fn verify(
    State(st): State<AppState>,
    ApiJson(b): ApiJson<VerifyBody>,
) -> ApiResult<(StatusCode, Json<VerifiedOut>)> {
    st.blocking(move |st| {
        let p = st.program.verify_signup(&b.token)?;
        Ok((
            StatusCode::CREATED,
            Json(VerifiedOut {
                pseudonym: p.pseudonym,
            }),
        ))
    })
    .await
}
