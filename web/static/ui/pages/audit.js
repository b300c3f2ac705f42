// Audit search (supervisors, administrators): by user, camera, case and time, newest first,
// a page at a time. The search itself is audited. `/audit?case_number=…` fills the form in.

import { api } from '../api.js';
import { h, field, form, pageTitle, table, refill, utc, fromInputUtc } from '../dom.js';

const PAGE = 50;

export async function render(ctx) {
  const cams = await api('GET', '/api/cameras');
  const q = ctx.query;
  const camSelect = h('select', { name: 'camera', id: 'au-camera' }, h('option', { value: '' }, 'Any camera'),
    cams.map((c) => h('option', { value: String(c.id), selected: q.get('camera') === String(c.id) }, c.name)));
  const render = (e) => [String(e.seq), utc(e.at_us), e.actor, e.action, e.outcome, e.rule, e.camera === null ? '' : (cams.find((c) => c.id === e.camera) || { name: e.camera }).name,
    e.case_number || '', e.reason || '', e.detail];
  const list = table('audit', ['#', 'When (UTC)', 'User', 'Action', 'Outcome', 'Rule', 'Camera', 'Case', 'Reason', 'Detail'], [], render, 'Search to see events.');
  let shown = [];
  let more = false;
  // Kept across pages, so the keyboard focus stays on the button pressed.
  const newer = h('button', { type: 'button', id: 'audit-newer', disabled: true, onclick: () => turn(() => pages.pop()) }, 'Newer');
  const older = h('button', { type: 'button', id: 'audit-older', disabled: true, onclick: () => turn(() => pages.push(shown[shown.length - 1].seq)) }, 'Older');
  const pager = h('div', { class: 'actions' }, newer, older);
  const count = h('p', { role: 'status', id: 'audit-count' });
  let pages = []; // the `before` cursor of each page shown so far
  let filters = null;

  const search = form({ id: 'audit-form', class: 'inline' }, [
    field('User', h('input', { name: 'user', id: 'au-user', value: q.get('user') || '' })),
    field('Camera', camSelect),
    field('Case number', h('input', { name: 'case_number', id: 'au-case', value: q.get('case_number') || '' })),
    field('From (UTC)', h('input', { name: 'from', id: 'au-from', type: 'datetime-local', step: '1' })),
    field('To (UTC)', h('input', { name: 'to', id: 'au-to', type: 'datetime-local', step: '1' })),
  ], async (v) => {
    filters = new URLSearchParams();
    if (v.user) filters.set('user', v.user);
    if (v.camera) filters.set('camera', v.camera);
    if (v.case_number) filters.set('case_number', v.case_number);
    if (v.from) filters.set('from_us', fromInputUtc(v.from));
    if (v.to) filters.set('to_us', fromInputUtc(v.to));
    history.replaceState(null, '', `/audit?${new URLSearchParams([...filters].filter(([k]) => !k.endsWith('_us')))}`);
    pages = [null];
    await load();
  }, 'Search');

  async function load() {
    const p = new URLSearchParams(filters);
    p.set('limit', String(PAGE + 1));
    const before = pages[pages.length - 1];
    if (before !== null) p.set('before', String(before));
    const events = await api('GET', `/api/audit?${p}`);
    more = events.length > PAGE;
    shown = events.slice(0, PAGE);
    refill(list, shown, render, 'No event matches.');
    count.textContent = shown.length ? `Page ${pages.length}: events #${shown[0].seq} to #${shown[shown.length - 1].seq}${more ? '' : ' (last page)'}` : 'No event matches.';
    newer.disabled = pages.length < 2;
    older.disabled = !more;
  }

  async function turn(move) {
    const before = [...pages];
    move();
    try {
      await load();
    } catch (e) {
      pages = before;
      count.textContent = `Could not load that page: ${e.message}`;
    }
  }

  ctx.view.append(pageTitle('Audit log'), h('section', {}, search), count, h('div', { class: 'scroll' }, list), pager);
  // A link fills the form in; the search (itself audited) waits for the user's Search.
}
