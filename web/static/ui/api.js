// Every call to the JSON API goes through `api`: JSON in and out, the session's CSRF token on
// state-changing calls, and one error type carrying the HTTP status and the API's message. The
// API enforces the access policy; the app only shows what `/api/me` says a user may use.

/** An API refusal: `status` is the HTTP status, `message` the API's words for the user. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** The signed-in session: `me` is `/api/me`'s answer; `onSignedOut` shows the sign-in prompt. */
export const session = { me: null, onSignedOut: () => {} };

/**
 * `background`: the app's own periodic refresh, which must not keep the session from idling
 * out (the server ignores it for activity; only the user's requests count).
 */
export async function api(method, path, body, { background = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (background) headers['X-VMS-Background'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && session.me && session.me.csrf) headers['X-CSRF-Token'] = session.me.csrf;
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch (_) {
    throw new ApiError(0, 'The server cannot be reached. Check the network and try again.');
  }
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (r.status === 401 && path !== '/api/login') {
    session.onSignedOut();
    throw new ApiError(401, 'Your session has ended. Sign in again to continue.', data);
  }
  if (!r.ok) throw new ApiError(r.status, explain(r.status, data), data);
  return data;
}

/** The API's message, or words for a status it did not explain. */
function explain(status, data) {
  if (data && data.error) {
    if (data.error === 'forbidden') return 'Your account is not allowed to do that.';
    return data.error;
  }
  if (status === 413) return 'That is too large for the server to accept.';
  if (status >= 500) return `The server failed (${status}). Try again; if it keeps failing, tell an administrator.`;
  return `The request failed (${status}).`;
}

/** Whether the signed-in user may ever do `action` (as decided by the server's policy). */
export function can(action) {
  return Boolean(session.me && session.me.actions && session.me.actions.includes(action));
}
