// Users (administrators): accounts with their role and state; create one (its owner sets up
// the second factor at first sign-in, with a QR code), change role, disable, unlock, reset a
// lost second factor; API tokens for clients such as a metrics scraper (shown once, revoked
// here).

import { api } from '../api.js';
import { h, field, form, pageTitle, table, refill, status, say, utc } from '../dom.js';

const ROLES = ['viewer', 'investigator', 'supervisor', 'admin', 'partner'];

export async function render(ctx) {
  const note = status('users-status');
  const partners = await api('GET', '/api/partners');
  const stateOf = (u) => [u.disabled && 'disabled', u.locked && 'locked', u.awaits_second_factor && 'awaits first sign-in', u.totp && 'second factor set'].filter(Boolean).join(', ') || 'active';
  const render = (u) => {
    // Saved with its own button: moving through a select by keyboard must not save each role.
    const role = h('select', { 'aria-label': `Role of ${u.username}`, disabled: u.role === 'partner' }, ROLES.filter((r) => r !== 'partner' || u.role === 'partner').map((r) => h('option', { value: r, selected: r === u.role }, r)));
    const buttons = [
      u.role === 'partner' ? '' : h('button', { type: 'button', onclick: () => change(u, { role: role.value }, `${u.username} is now ${role.value}.`) }, `Save role of ${u.username}`),
      h('button', { type: 'button', onclick: () => change(u, { disabled: !u.disabled }, `${u.username} ${u.disabled ? 'enabled' : 'disabled'}.`) }, u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`),
      u.locked ? h('button', { type: 'button', onclick: () => change(u, { unlock: true }, `${u.username} unlocked.`) }, `Unlock ${u.username}`) : '',
      u.totp ? h('button', { type: 'button', onclick: () => { if (confirm(`Reset ${u.username}'s second factor? They set up a new one at their next sign-in.`)) change(u, { reset_second_factor: true }, `${u.username} sets up a new second factor at the next sign-in.`); } }, `Reset second factor of ${u.username}`) : '',
    ];
    return [u.username, h('td', {}, role), u.partner ? (partners.find((p) => p.id === u.partner) || {}).pseudonym || u.partner : '', h('td', { class: 'state' }, stateOf(u)), h('td', {}, buttons.flatMap((b) => [b, ' ']))];
  };
  const users = await api('GET', '/api/users');
  const list = table('users', ['User', 'Role', 'Partner', 'State', ''], users, render);
  async function change(u, body, done) {
    try { await api('PATCH', `/api/users/${encodeURIComponent(u.username)}`, body); say(note, done); await refresh(); }
    catch (e) { say(note, `${u.username}: ${e.message}`, true); }
  }
  // Listing accounts is an audited read: the list is reloaded after a change, never polled.
  async function refresh() {
    const fresh = await api('GET', '/api/users');
    refill(list, fresh, render);
    tokens.setUsers(fresh.map((u) => u.username));
  }
  const partnerSelect = h('select', { name: 'partner_id', id: 'nu-partner' }, h('option', { value: '' }, '—'), partners.map((p) => h('option', { value: String(p.id) }, p.pseudonym)));
  const partnerField = field('Partner (partner accounts only)', partnerSelect);
  const done = h('p', { role: 'status', class: 'ok', id: 'user-created' });
  const create = form({ id: 'user-form' }, [
    h('div', { class: 'inline' },
      field('Username', h('input', { name: 'username', id: 'nu-username', required: true, autocomplete: 'off' }), 'a-z, 0-9, . - _'),
      field('Role', h('select', { name: 'role', id: 'nu-role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'investigator' }, r)))),
      partnerField),
    field('Initial password', h('input', { name: 'password', id: 'nu-password', type: 'password', required: true, minlength: '12', autocomplete: 'new-password' }),
      'At least 12 characters. Give it to the user in person: at first sign-in they scan a QR code into their authenticator app and choose their own password.'),
  ], async (v, f) => {
    const u = await api('POST', '/api/users', { username: v.username, role: v.role, password: v.password, partner_id: v.partner_id ? Number(v.partner_id) : null });
    f.reset();
    done.textContent = `${u.username} (${u.role}) created. They set up their second factor at first sign-in.`;
    await refresh();
  }, 'Create user');
  const tokens = await tokensSection(users.map((u) => u.username));
  ctx.view.append(pageTitle('Users'), note, list, h('section', { 'aria-labelledby': 'new-user' }, h('h2', { id: 'new-user' }, 'New user'), create, done), tokens.el);
}

/** API tokens: listed by id (the token itself is shown once, when made), made and revoked. */
async function tokensSection(usernames) {
  const note = status('tokens-status');
  const render = (t) => [h('code', {}, t.id), t.username, t.label, `${utc(t.created_us)} UTC`,
    h('button', { type: 'button', onclick: async () => {
      if (!confirm(`Revoke token ${t.id} (${t.label})? Clients using it are refused at once.`)) return;
      try { await api('DELETE', `/api/tokens/${t.id}`); say(note, `Token ${t.id} revoked.`); await reload(); }
      catch (e) { say(note, `Token ${t.id}: ${e.message}`, true); }
    } }, `Revoke token ${t.id}`)];
  const list = table('tokens', ['Id', 'User', 'Label', 'Created', ''], await api('GET', '/api/tokens'), render, 'No API token.');
  const reload = async () => refill(list, await api('GET', '/api/tokens'), render, 'No API token.');
  const shown = h('div', { id: 'new-token', role: 'status' });
  const user = h('select', { name: 'username', id: 'tk-user' });
  const setUsers = (names) => {
    const keep = user.value;
    user.replaceChildren(...names.map((u) => h('option', { value: u }, u)));
    if (names.includes(keep)) user.value = keep;
  };
  setUsers(usernames);
  const create = form({ id: 'token-form', class: 'inline' }, [
    field('User', user),
    field('Label', h('input', { name: 'label', id: 'tk-label', required: true }), 'What uses it, e.g. "prometheus"'),
  ], async (v, f) => {
    const t = await api('POST', '/api/tokens', v);
    f.reset();
    shown.replaceChildren(h('p', {}, `Token ${t.id} for ${t.username}. Copy it now: it is not shown again.`), h('code', { id: 'new-token-value', class: 'secret' }, t.token));
    await reload();
  }, 'Create token');
  const el = h('section', { 'aria-labelledby': 'tokens-title' }, h('h2', { id: 'tokens-title' }, 'API tokens'),
    h('p', { class: 'muted' }, 'For programs, not people: a token signs in as its user without a second factor, so it never reaches video.'),
    note, list, create, shown);
  return { el, setUsers };
}
