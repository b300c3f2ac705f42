// A public call for video (`/call/<id>`, no account): what happened, when, and a general area;
// "Send footage" gives this person a submission link of their own and opens the ordinary
// submission page with it (statement, attestation, resumable uploads).

import { ApiError } from '../api.js';
import { h, pageTitle, utc } from '../dom.js';

async function call(method, path) {
  const r = await fetch(path, { method, headers: { Accept: 'application/json' }, credentials: 'omit' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `The server refused (${r.status}).`, data);
  return data;
}

export async function render(ctx) {
  const id = Number.parseInt(ctx.rest || '', 10);
  const note = h('p', { id: 'call-status', role: 'status' });
  let c;
  try {
    if (!Number.isSafeInteger(id)) throw new Error('This call for video is closed or does not exist.');
    c = await call('GET', `/api/public-calls/${id}`);
  } catch (e) {
    ctx.view.append(pageTitle('Call for video'), h('p', { class: 'error', role: 'alert' }, e.message));
    return {};
  }
  const start = h('button', { type: 'button', id: 'call-start' }, 'Send footage');
  start.addEventListener('click', async () => {
    start.disabled = true;
    note.textContent = 'Opening your own submission page…';
    try {
      const s = await call('POST', `/api/public-calls/${id}/start`);
      location.assign(s.url);
    } catch (e) {
      note.textContent = e.message;
      note.classList.add('error');
      start.disabled = false;
    }
  });
  ctx.view.append(pageTitle(`Call for video: ${c.title}`),
    h('dl', { class: 'facts' },
      h('dt', {}, 'When'), h('dd', {}, c.window),
      h('dt', {}, 'Where'), h('dd', {}, c.area),
      h('dt', {}, 'Case'), h('dd', {}, c.case_number),
      h('dt', {}, 'Open until'), h('dd', {}, `${utc(c.closes_us)} UTC`)),
    h('p', {}, 'If a camera of yours (a doorbell, a dashcam, a phone, a shop’s recorder) may have recorded this, please send the footage as your recorder or app exports it. You will be asked where the camera is and what it shows; your name and contact are optional. Files are kept exactly as you send them and used only for this case.'),
    start, note);
  return {};
}
