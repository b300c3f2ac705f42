// Users (administrators): accounts with their role and state; create one (its owner sets up
// the second factor at first sign-in, with a QR code), change role, disable, unlock, reset a
// lost second factor.

import { api } from '../api.js';
import { h, field, form, pageTitle, table, refill, status } from '../dom.js';

const ROLES = ['viewer', 'investigator', 'supervisor', 'admin', 'partner'];

export async function render(ctx) {
  const note = status('users-status');
  const partners = await api('GET', '/api/partners');
  const stateOf = (u) => [u.disabled && 'disabled', u.locked && 'locked', u.awaits_second_factor && 'awaits first sign-in', u.totp && 'second factor set'].filter(Boolean).join(', ') || 'active';
  const render = (u) => {
    const role = h('select', { 'aria-label': `Role of ${u.username}` }, ROLES.filter((r) => r !== 'partner' || u.role === 'partner').map((r) => h('option', { value: r, selected: r === u.role }, r)));
    role.disabled = u.role === 'partner';
    role.addEventListener('change', () => change(u, { role: role.value }));
    const buttons = [
      h('button', { type: 'button', onclick: () => change(u, { disabled: !u.disabled }) }, u.disabled ? `Enable ${u.username}` : `Disable ${u.username}`),
      u.locked ? h('button', { type: 'button', onclick: () => change(u, { unlock: true }) }, `Unlock ${u.username}`) : '',
      u.totp ? h('button', { type: 'button', onclick: () => { if (confirm(`Reset ${u.username}'s second factor? They set up a new one at their next sign-in.`)) change(u, { reset_second_factor: true }); } }, `Reset second factor of ${u.username}`) : '',
    ];
    return [u.username, h('td', {}, role), u.partner ? (partners.find((p) => p.id === u.partner) || {}).pseudonym || u.partner : '', h('td', { class: 'state' }, stateOf(u)), h('td', {}, buttons.flatMap((b) => [b, ' ']))];
  };
  const list = table('users', ['User', 'Role', 'Partner', 'State', ''], await api('GET', '/api/users'), render);
  async function change(u, body) {
    note.textContent = '';
    try { await api('PATCH', `/api/users/${encodeURIComponent(u.username)}`, body); await refresh(false); }
    catch (e) { note.textContent = `${u.username}: ${e.message}`; }
  }
  async function refresh(background) {
    if (list.contains(document.activeElement) && document.activeElement.tagName === 'SELECT') return;
    refill(list, await api('GET', '/api/users', undefined, { background }), render);
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
    await refresh(false);
  }, 'Create user');
  ctx.view.append(pageTitle('Users'), note, list, h('section', { 'aria-labelledby': 'new-user' }, h('h2', { id: 'new-user' }, 'New user'), create, done));
  return { refresh };
}
