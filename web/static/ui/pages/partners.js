// Partners (administrators): every partner with its contact (this read is audited), and
// signing a new partner up with its account.

import { api } from '../api.js';
import { h, field, form, pageTitle, table, refill, utc } from '../dom.js';

export async function render(ctx) {
  const render = (p) => [p.pseudonym, p.contact_name, [p.contact_email, p.contact_phone].filter(Boolean).join(', '), p.address, p.status,
    p.terms_version ? `${p.terms_version} (${utc(p.terms_accepted_us).slice(0, 10)})` : 'not accepted'];
  const list = table('partners', ['Pseudonym', 'Contact', 'Email / phone', 'Address', 'Status', 'Terms'], await api('GET', '/api/partners'), render, 'No partner yet.');
  const done = h('p', { role: 'status', class: 'ok', id: 'partner-created' });
  const create = form({ id: 'partner-form' }, [
    field('Contact name', h('input', { name: 'contact_name', required: true })),
    h('div', { class: 'inline' },
      field('Email', h('input', { name: 'contact_email', type: 'email' })),
      field('Phone', h('input', { name: 'contact_phone', type: 'tel' }))),
    field('Address', h('input', { name: 'address' })),
    h('div', { class: 'inline' },
      field('Username', h('input', { name: 'username', required: true, autocomplete: 'off' }), 'a-z, 0-9, . - _'),
      field('Initial password', h('input', { name: 'password', type: 'password', required: true, minlength: '12', autocomplete: 'new-password' }), 'At least 12 characters; give it to the partner in person')),
  ], async (v, f) => {
    const p = await api('POST', '/api/partners', v);
    f.reset();
    done.textContent = `${p.pseudonym} (${p.contact_name}) created.`;
    refill(list, await api('GET', '/api/partners'), render);
  }, 'Create partner');
  ctx.view.append(pageTitle('Partners'), h('p', { class: 'muted' }, 'Contacts are personal data: every view of this page is recorded in the audit log.'), list,
    h('section', { 'aria-labelledby': 'new-partner' }, h('h2', { id: 'new-partner' }, 'Sign a partner up'), create, done));
}
