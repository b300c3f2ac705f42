// Recordings: a timeline for one or several cameras over a range (a day by default: recorded
// spans and the gaps between), click or drag on a timeline to play from that moment, step by
// frame, and the UTC time of the frame on screen. Every timeline and playback call is audited
// with the reason, and allowed only inside what the user may see (e.g. an approved request).
//
// Deep link: `/recordings?cameras=3,4&from=<µs>&to=<µs>&at=<µs>` (UTC) preselects the
// cameras, the range and the moment; the user gives the reason (a link never supplies it: it
// would be audited under the user's name) and presses Show.

import { api } from '../api.js';
import { h, field, pageTitle, cameraPicker, utc, form, rangeFields, fromInputUtc } from '../dom.js';

const DAY_US = 86_400_000_000;

export async function render(ctx) {
  const cams = (await api('GET', '/api/cameras')).filter((c) => c.sharing !== 'registry');
  const q = ctx.query;
  const chosen = (q.get('cameras') || '').split(',').map(Number).filter(Boolean);
  const at = Number(q.get('at')) || null;
  // Without a range, the day (UTC) of the moment asked for, or today.
  const dayStart = Math.floor((at || Date.now() * 1000) / DAY_US) * DAY_US;
  const from = Number(q.get('from')) || dayStart;
  const to = Number(q.get('to')) || from + DAY_US;
  const picker = cameraPicker(cams, { name: 'cameras', label: 'Cameras', chosen });
  const reason = h('input', { name: 'reason', id: 'pb-reason', required: true, autocomplete: 'off' });
  const timelines = h('div', { id: 'timelines' });
  const player = h('video', { id: 'player', class: 'player', controls: true, playsinline: true, muted: true, preload: 'auto', 'aria-label': 'Recorded video' });
  const clock = h('p', { class: 'clock', id: 'pb-clock', 'aria-live': 'off' });
  const info = h('p', { class: 'muted', id: 'pb-info' });
  const playError = h('p', { class: 'error', id: 'pb-error', role: 'alert' });
  let playing = null; // { camera, start, end } shown in the player
  let shownDay = null; // the range on show: { start, end, reason, caseNumber }
  let left = false; // the user went to another page: late answers change nothing

  const showForm = form({ id: 'pb-form' }, [
    picker.el,
    h('div', { class: 'inline' }, rangeFields('pb', 0, from, to)),
    h('div', { class: 'inline' },
      field('Case number', h('input', { name: 'case_number', id: 'pb-case', value: q.get('case') || '' }), 'Optional; recorded in the audit log'),
      field('Reason', reason, 'Audited, and shown to the camera’s partner')),
  ], async (v) => {
    const ids = picker.picked();
    if (!ids.length) throw new Error('Choose at least one camera.');
    const start = fromInputUtc(v.start);
    const end = fromInputUtc(v.end);
    if (!(end > start)) throw new Error('end must be after start');
    shownDay = { start, end, reason: v.reason, caseNumber: v.case_number };
    playing = null;
    await drawTimelines(ids);
    if (!playing) history.replaceState(null, '', link(ids, null));
  }, 'Show');

  const prev = h('button', { type: 'button', id: 'frame-back', onclick: () => step(-1) }, '◀ Previous frame');
  const next = h('button', { type: 'button', id: 'frame-forward', onclick: () => step(1) }, 'Next frame ▶');
  ctx.view.append(pageTitle('Recordings'),
    h('section', {}, showForm),
    h('section', { id: 'playback-section', 'aria-label': 'Timelines and player' },
      h('p', { class: 'muted' }, 'Green: recorded. Click or drag on a timeline to play from there; with the keyboard, focus a timeline, move with the arrow keys (Shift: 10 minutes) and press Enter.'),
      timelines, player, h('div', { class: 'actions' }, prev, next), clock, info, playError));
  if (chosen.length) { reason.focus(); ctx.keepFocus = true; }

  function fps() {
    const c = playing && cams.find((x) => x.id === playing.camera);
    return (c && c.health && c.health.fps) || 25;
  }

  function step(dir) {
    if (!playing) return;
    player.pause();
    player.currentTime = Math.max(0, player.currentTime + dir / fps());
  }

  function query(start, end) {
    const p = new URLSearchParams({ start, end, reason: shownDay.reason });
    if (shownDay.caseNumber) p.set('case_number', shownDay.caseNumber);
    return p;
  }

  async function drawTimelines(ids) {
    playError.textContent = '';
    timelines.replaceChildren();
    const rows = await Promise.all(ids.map(async (id) => {
      const cam = cams.find((c) => c.id === id);
      try {
        return { cam, spans: await api('GET', `/api/cameras/${id}/recordings?${query(shownDay.start, shownDay.end)}`) };
      } catch (e) {
        return { cam, error: e.status === 403 ? 'You may not see this camera’s video in this range: choose a range an approved request covers (see Cases).' : e.message };
      }
    }));
    if (left) return;
    for (const r of rows) timelines.append(timelineRow(r));
    if (at && at >= shownDay.start && at < shownDay.end) {
      const r = rows.find((x) => x.spans && x.spans.some((s) => s.end_us > at));
      if (r) play(r.cam, r.spans, at);
    }
  }

  function timelineRow({ cam, spans, error }) {
    const name = h('span', { id: `tl-name-${cam.id}` }, cam.name);
    if (error) return h('div', { class: 'timeline-row' }, name, h('p', { class: 'error', role: 'alert' }, error));
    const total = shownDay.end - shownDay.start;
    const bar = h('div', {
      class: 'timeline', tabindex: '0', role: 'slider', dataset: { camera: cam.id },
      'aria-labelledby': `tl-name-${cam.id}`, 'aria-valuemin': '0', 'aria-valuemax': String(Math.ceil(total / 60e6)), 'aria-valuenow': '0', 'aria-valuetext': utc(shownDay.start),
    });
    const cursor = h('div', { class: 'cursor' });
    for (const s of spans) {
      bar.append(h('div', { class: 'span', title: `${utc(s.start_us)} – ${utc(s.end_us)}`,
        style: `left:${(100 * (s.start_us - shownDay.start)) / total}%;width:${Math.max(0.1, (100 * (s.end_us - s.start_us)) / total)}%` }));
    }
    bar.append(cursor);
    let pos = spans.length ? spans[0].start_us : shownDay.start;
    const moveTo = (us) => {
      pos = Math.min(shownDay.end - 1, Math.max(shownDay.start, us));
      cursor.style.left = `${(100 * (pos - shownDay.start)) / total}%`;
      bar.setAttribute('aria-valuenow', String(Math.floor((pos - shownDay.start) / 60e6)));
      bar.setAttribute('aria-valuetext', `${utc(pos)}${recordedAt(spans, pos) ? '' : ' (not recorded)'}`);
    };
    const fromPointer = (ev) => {
      const box = bar.getBoundingClientRect();
      moveTo(shownDay.start + ((ev.clientX - box.left) / box.width) * total);
    };
    let dragging = false;
    bar.addEventListener('pointerdown', (ev) => { dragging = true; bar.setPointerCapture(ev.pointerId); fromPointer(ev); });
    bar.addEventListener('pointermove', (ev) => { if (dragging) fromPointer(ev); });
    bar.addEventListener('pointerup', (ev) => { dragging = false; fromPointer(ev); play(cam, spans, pos); });
    bar.addEventListener('keydown', (ev) => {
      const stepUs = (ev.shiftKey ? 10 : 1) * 60e6;
      if (ev.key === 'ArrowRight') moveTo(pos + stepUs);
      else if (ev.key === 'ArrowLeft') moveTo(pos - stepUs);
      else if (ev.key === 'Home') moveTo(shownDay.start);
      else if (ev.key === 'End') moveTo(shownDay.end - 1);
      else if (ev.key === 'Enter' || ev.key === ' ') play(cam, spans, pos);
      else return;
      ev.preventDefault();
    });
    moveTo(pos);
    const ticks = h('div', { class: 'ticks', 'aria-hidden': 'true' }, [0, 1, 2, 3, 4].map((i) => h('span', {}, utc(shownDay.start + (i * total) / 4).slice(11, 16))));
    const summary = spans.length ? `${spans.length} recorded span${spans.length > 1 ? 's' : ''}` : 'nothing recorded in this range';
    return h('div', { class: 'timeline-row' }, h('div', {}, name, h('br'), h('span', { class: 'muted' }, summary)), h('div', {}, bar, ticks));
  }

  /** Plays `cam` from `us`: the recorded span holding it (or the next one) from that moment. */
  function play(cam, spans, us) {
    if (left) return;
    playError.textContent = '';
    const span = spans.find((s) => s.end_us > us);
    if (!span) { playError.textContent = 'Nothing was recorded after that moment in this range.'; return; }
    const start = Math.max(us, span.start_us);
    playing = { camera: cam.id, start, end: span.end_us };
    player.src = `/api/cameras/${cam.id}/video.mp4?${query(start, span.end_us)}`;
    info.textContent = `${cam.name}: ${utc(start)} – ${utc(span.end_us)} UTC`;
    player.play().catch(() => {});
    const ids = [...timelines.querySelectorAll('.timeline')].map((b) => b.dataset.camera);
    history.replaceState(null, '', link(ids, start));
  }

  function link(ids, moment) {
    const p = new URLSearchParams({ cameras: ids.join(','), from: shownDay.start, to: shownDay.end });
    if (moment !== null) p.set('at', moment);
    return `/recordings?${p}`;
  }

  player.addEventListener('error', () => { playError.textContent = 'The recording could not be played (see the server log, or try a shorter range).'; });
  player.addEventListener('timeupdate', () => showClock());
  player.addEventListener('seeked', () => showClock());
  function showClock() {
    if (!playing) return;
    const us = playing.start + player.currentTime * 1e6;
    clock.textContent = `${utc(us)}.${String(Math.floor((us / 1000) % 1000)).padStart(3, '0')} UTC`;
    const bar = timelines.querySelector(`.timeline[data-camera="${playing.camera}"] .cursor`);
    if (bar && shownDay) bar.style.left = `${(100 * (us - shownDay.start)) / (shownDay.end - shownDay.start)}%`;
  }

  return { leave() { left = true; player.removeAttribute('src'); player.load(); } };
}

function recordedAt(spans, us) {
  return spans.some((s) => s.start_us <= us && us < s.end_us);
}
