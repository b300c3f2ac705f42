// The public transparency report (no sign-in): the month's aggregate counts.

import { api } from '../api.js';
import { h, field, pageTitle } from '../dom.js';

const LABELS = [
  ['requests_filed', 'Footage requests filed'], ['requests_approved', 'Approved by partners'], ['requests_denied', 'Denied by partners'],
  ['requests_pending', 'Awaiting an answer'], ['exigent_accesses', 'Exigent accesses (emergency, justified in writing)'], ['exports', 'Evidence exports'],
  ['video_accesses', 'Video accesses (live and recorded)'], ['submission_links', 'Links sent to people with footage'],
  ['submissions_received', 'Files received from the public'], ['submissions_accepted', 'Submitted files accepted as evidence'], ['submissions_rejected', 'Submitted files rejected'],
  ['area_requests', 'Area requests (every camera owner near an incident asked at once)'], ['area_owners_contacted', 'Camera owners contacted by area requests'],
  ['partners_active', 'Active partners'], ['cameras_registry', 'Cameras registered (no video shared)'],
  ['cameras_on_request', 'Cameras shared on request'], ['cameras_live', 'Cameras shared live'],
];

export async function render(ctx) {
  const month = h('input', { type: 'month', name: 'month', id: 'tr-month', value: ctx.query.get('month') || new Date().toISOString().slice(0, 7) });
  const out = h('div', { class: 'counts', id: 'transparency-counts', 'aria-live': 'polite' });
  const error = h('p', { class: 'error', role: 'alert' });
  const load = async () => {
    error.textContent = '';
    try {
      const t = await api('GET', `/api/transparency?month=${encodeURIComponent(month.value)}`);
      out.replaceChildren(...LABELS.map(([k, label]) => h('div', { dataset: { count: k } }, h('strong', {}, String(t[k])), label)));
      history.replaceState(null, '', `/transparency?month=${month.value}`);
    } catch (e) { error.textContent = e.message; }
  };
  month.addEventListener('change', load);
  ctx.view.append(pageTitle('Transparency report'),
    h('p', {}, 'How the police department used the partner-camera program: aggregate counts only, no names or places.'),
    field('Month', month), error, out);
  await load();
}
