// Self-service sign-up (`/join`, no account): a resident or business gives its name, email
// address, a username and password and accepts the program terms; a link mailed to the
// address (`/join#<token>`) confirms it and opens the way to the portal, where cameras are
// registered on the map.

import { ApiError } from '../api.js';
import { h, pageTitle, field, form } from '../dom.js';

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `The server refused (${r.status}).`, data);
  return data;
}

export async function render(ctx) {
  const token = location.hash.slice(1);
  if (token) return confirm(ctx, token);
  const info = await call('GET', '/api/signup');
  ctx.view.append(pageTitle('Register your cameras'));
  if (!info.available) {
    ctx.view.append(h('p', { id: 'join-closed' }, 'Sign-up is not open here. Ask the police department to register you.'));
    return {};
  }
  const done = h('p', { role: 'status', id: 'join-status', class: 'ok' });
  const f = form({ id: 'join-form' }, [
    field('Your name or your business’s', h('input', { name: 'contact_name', id: 'jn-name', required: true, autocomplete: 'name' })),
    field('Email address', h('input', { name: 'contact_email', id: 'jn-email', type: 'email', required: true, autocomplete: 'email' }), 'We send a link to confirm it; requests for footage come here'),
    field('Phone (optional)', h('input', { name: 'contact_phone', id: 'jn-phone', autocomplete: 'tel' })),
    field('Street address (optional)', h('input', { name: 'address', id: 'jn-address', autocomplete: 'street-address' }), 'Seen only by the department’s administrators'),
    field('Username', h('input', { name: 'username', id: 'jn-username', required: true, autocomplete: 'username', pattern: '[a-z0-9._-]{1,64}' }), 'Lower-case letters, digits, . - _'),
    field('Password', h('input', { name: 'password', id: 'jn-password', type: 'password', required: true, minlength: '12', autocomplete: 'new-password' }), 'At least 12 characters'),
    h('section', { 'aria-labelledby': 'terms-title', class: 'card' }, h('h2', { id: 'terms-title' }, `Program terms (version ${info.terms_version})`), h('p', { id: 'terms-text' }, info.terms_text)),
    h('div', { class: 'pick' }, h('input', { type: 'checkbox', name: 'accept_terms', id: 'jn-accept', required: true }), h('label', { for: 'jn-accept' }, 'I accept the program terms')),
  ], async (v) => {
    const r = await call('POST', '/api/signup', { ...v, terms_version: info.terms_version });
    f.hidden = true;
    done.textContent = `Almost done: open the link we sent to ${r.sent_to} to confirm your address.`;
    done.focus();
  }, 'Sign up');
  done.tabIndex = -1;
  ctx.view.append(h('p', {}, 'Tell the police department where your cameras are, so investigators can ask you for footage after an incident nearby. No video is sent unless you choose to send it.'), f, done);
  return {};
}

async function confirm(ctx, token) {
  history.replaceState(null, '', '/join'); // the token leaves the address bar at once
  ctx.view.append(pageTitle('Confirm your registration'));
  const out = h('p', { role: 'status', id: 'join-confirmed' });
  ctx.view.append(out);
  try {
    const r = await call('POST', '/api/signup/verify', { token });
    out.append(`Your address is confirmed and you are registered as ${r.pseudonym}. `, h('a', { href: '/portal/cameras' }, 'Sign in to add your cameras'), '.');
  } catch (e) {
    out.className = 'error';
    out.textContent = e.message;
  }
  return {};
}
