// Legal holds (supervisors): video under a hold is kept past its camera's retention and past
// a partner leaving, until the hold is lifted — with a reason, as it is placed.

import { api, can } from '../api.js';
import { h, field, form, pageTitle, table, refill, utc, cameraPicker, rangeFields, fromInputUtc, status, say, editing } from '../dom.js';

export async function render(ctx) {
  const cams = await api('GET', '/api/cameras');
  const note = status('holds-status');
  const name = (id) => (cams.find((c) => c.id === id) || { name: `#${id}` }).name;
  const render = (x) => {
    const reason = h('input', { 'aria-label': `Reason for lifting hold ${x.id}`, placeholder: 'Reason for lifting' });
    const lift = can('hold.lift') ? [reason, ' ', h('button', { type: 'button', onclick: async () => {
      if (!reason.value.trim()) { say(note, `Hold ${x.id}: give the reason for lifting it.`, true); reason.setAttribute('aria-invalid', 'true'); reason.focus(); return; }
      try {
        await api('DELETE', `/api/holds/${x.id}?reason=${encodeURIComponent(reason.value)}`);
        say(note, `Hold ${x.id} lifted.`);
        await refresh(false);
      } catch (e) { say(note, `Hold ${x.id}: ${e.message}`, true); }
    } }, `Lift hold ${x.id}`)] : [];
    return [`#${x.id}`, name(x.camera), `${utc(x.start_us)} – ${utc(x.end_us)}`, x.reason, h('td', {}, lift)];
  };
  const list = table('holds', ['#', 'Camera', 'Range (UTC)', 'Reason', ''], await api('GET', '/api/holds'), render, 'No legal hold.');
  async function refresh(background) {
    if (background && editing(list)) return;
    refill(list, await api('GET', '/api/holds', undefined, { background }), render, 'No legal hold.');
  }
  const picker = cameraPicker(cams.filter((c) => c.sharing !== 'registry'), { name: 'hold-camera', multiple: false, label: 'Camera' });
  const place = form({ id: 'hold-form' }, [
    picker.el,
    h('div', { class: 'inline' }, rangeFields('hold', 24 * 60)),
    h('div', { class: 'inline' },
      field('Case number', h('input', { name: 'case_number', id: 'hold-case', required: true })),
      field('Reason', h('input', { name: 'reason', id: 'hold-reason', required: true }))),
  ], async (v, f) => {
    const [camera] = picker.picked();
    if (camera === undefined) throw new Error('Choose the camera.');
    const x = await api('POST', '/api/holds', { camera, start_us: fromInputUtc(v.start), end_us: fromInputUtc(v.end), case_number: v.case_number, reason: v.reason });
    f.reset();
    say(note, `Hold ${x.id} placed.`);
    await refresh(false);
  }, 'Place hold');
  ctx.view.append(pageTitle('Legal holds'), note, list, h('section', { 'aria-labelledby': 'new-hold' }, h('h2', { id: 'new-hold' }, 'Place a hold'), place));
  return { refresh };
}
