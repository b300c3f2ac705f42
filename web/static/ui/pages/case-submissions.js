// Submitted footage of a case: links sent to people with footage (each shown once, to copy into
// an email or a message), and what came in through each — the submitter's statement, and each
// file with its size, SHA-256 and what it is by its content. A file plays as received when a
// browser can play it, else its derived working copy does once made (with its progress). Each
// file is accepted into the case or rejected with a reason.

import { api, can } from '../api.js';
import { h, field, utc, form, table, progress, status, say, editing } from '../dom.js';

const clock = (secs) => (secs === null || secs === undefined ? 'not known'
  : `${Math.abs(secs) / 60} min ${secs >= 0 ? 'fast' : 'slow'} (declared)`);

/** Where a received file stands: identified, converting, reviewed, deleted. */
function fileState(f) {
  if (f.deleted) return `deleted ${utc(f.deleted.at_us)} UTC: ${f.deleted.why}`;
  const ex = f.examination;
  if (ex && ex.stage === 'converting') return progress(ex.percent, 100, `Making a playable copy of ${f.filename}`);
  if (ex && ex.stage === 'queued') return 'waiting to make a playable copy…';
  if (!f.what) return 'being identified…';
  return f.what;
}

/** A ZIP archive's entries: each extracted one with what it is, its hash and a download. */
function archiveList(f) {
  const a = f.archive;
  if (!a) return '';
  if (a.refused) return h('p', { class: 'archive' }, `Not extracted: ${a.refused}`);
  return h('ul', { class: 'archive', 'aria-label': `Entries of ${f.filename}` }, a.entries.map((e) => h('li', {},
    `${e.name} (${e.size} bytes): `,
    e.extracted ? [e.what || 'being identified…', ' ',
      h('a', { href: `/api/submissions/${f.id}/entries/${e.index}`, download: e.name.split('/').pop() }, `Download ${e.name}`),
      h('div', { class: 'derived' }, `extracted, SHA-256 ${e.sha256}`)]
      : `not extracted: ${e.skipped}`)));
}

function reviewState(f) {
  const r = f.review;
  if (!r) return 'not reviewed';
  return r.accepted ? `accepted by ${r.by}${r.reason ? `: ${r.reason}` : ''}` : `rejected by ${r.by}: ${r.reason}`;
}

/**
 * The section, for case `n` and its `requests`; `exported()` is called after an export of the
 * accepted files started (the case page shows its progress with the other exports).
 */
export function submissionsSection(n, requests, exported) {
  let accepted = [];
  const note = status('links-status');
  const shown = h('div', { id: 'new-link', role: 'status' });
  const list = h('div', { id: 'submissions' });

  const review = async (f, accepted, reason) => {
    try {
      await api('POST', `/api/submissions/${f.id}/review`, { accepted, reason: reason || '' });
      say(note, `${f.filename} ${accepted ? 'accepted into the case' : 'rejected'}.`);
      await reload(false, true);
    } catch (e) { say(note, `${f.filename}: ${e.message}`, true); }
  };
  // Rejecting asks for the reason in place (kept with the file and in the audit log).
  const askReason = (button, f) => {
    const cell = button.closest('td');
    const input = h('input', { id: `reject-reason-${f.id}`, class: 'reason', required: true });
    const box = h('div', { class: 'reject' },
      h('label', { for: input.id }, `Why is ${f.filename} rejected?`), input,
      h('button', { type: 'button', onclick: () => (input.value.trim() ? review(f, false, input.value) : say(note, 'Say why the file is rejected.', true)) }, `Reject ${f.filename}`));
    cell.replaceChildren(box);
    input.focus();
  };
  const reviewCell = (f) => h('td', { class: 'review' }, reviewState(f), f.deleted || !f.received_us ? '' : [' ',
    f.review && f.review.accepted ? '' : h('button', { type: 'button', onclick: () => review(f, true) }, `Accept ${f.filename}`), ' ',
    f.review && !f.review.accepted ? '' : h('button', { type: 'button', onclick: (ev) => askReason(ev.target, f) }, `Reject ${f.filename}…`)]);
  const actions = (f) => (!f.received_us || f.deleted ? '' : [
    f.browser_playable ? h('button', { type: 'button', onclick: (ev) => play(ev.target, f, 'original?inline=1', f.filename) }, `Play ${f.filename}`) : '',
    f.working_copy ? h('button', { type: 'button', onclick: (ev) => play(ev.target, f, 'working-copy', `working copy of ${f.filename}`) }, `Play working copy of ${f.filename}`) : '', ' ',
    h('a', { href: `/api/submissions/${f.id}/original`, download: f.filename }, `Download ${f.filename}`),
    f.working_copy ? [' ', h('a', { href: `/api/submissions/${f.id}/working-copy?download=1` }, 'Download the working copy')] : '']);
  const fileRow = (f) => [f.filename, `${f.length} bytes`,
    f.received_us ? `${utc(f.received_us)} UTC` : `${Math.floor((100 * f.offset) / f.length)} % so far`,
    h('td', { class: 'what' }, f.received_us ? [fileState(f), archiveList(f)] : ''),
    h('td', { class: 'hash' }, h('span', { class: 'sha' }, f.sha256 || ''), f.working_copy ? h('div', { class: 'derived' }, `working copy (derived): ${f.working_copy.sha256}`) : ''),
    reviewCell(f), h('td', {}, actions(f))];

  const draw = (items) => {
    list.replaceChildren(...(items.length ? items.map((x) => {
      const l = x.link;
      const state = l.revoked_us ? 'revoked' : l.expires_us < Date.now() * 1000 ? 'expired' : `open until ${utc(l.expires_us)} UTC`;
      const st = x.statement;
      return h('div', { class: 'card submission', dataset: { link: l.id } },
        h('h3', {}, `Link ${l.id} to ${l.recipient} — ${state}`),
        st ? h('dl', { class: 'facts' },
          h('dt', {}, 'From'), h('dd', {}, [st.name, st.contact].filter(Boolean).join(', ') || 'not given'),
          h('dt', {}, 'Camera'), h('dd', {}, st.camera_location),
          h('dt', {}, 'Shows'), h('dd', {}, st.shows),
          h('dt', {}, 'Recorded'), h('dd', {}, st.recorded_when),
          h('dt', {}, 'Camera clock'), h('dd', {}, clock(st.clock_offset_secs)),
          h('dt', {}, 'Attestation'), h('dd', {}, `version ${st.attestation_version}, ${utc(st.made_us)} UTC`)) : h('p', { class: 'muted' }, 'No statement yet.'),
        table(`files-${l.id}`, ['File', 'Size', 'Received', 'What it is', 'SHA-256', 'Review', ''], x.files, fileRow, 'No file yet.'),
        l.revoked_us ? '' : h('button', { type: 'button', onclick: async () => {
          try { await api('DELETE', `/api/links/${l.id}`); say(note, `Link ${l.id} revoked.`); await reload(); }
          catch (e) { say(note, `Link ${l.id}: ${e.message}`, true); }
        } }, `Revoke link ${l.id}`));
    }) : [h('p', { class: 'muted' }, 'No submission link yet.')]));
  };
  let shownJson = null;
  // Redrawn when something changed (a file arrived, was identified, a copy progressed), never
  // under an open player or a reason being typed — unless the user just decided something.
  const reload = async (background = false, force = false) => {
    const items = await api('GET', `/api/cases/${encodeURIComponent(n)}/submissions`, undefined, { background });
    const json = JSON.stringify(items);
    if (!force && (json === shownJson || list.querySelector('.player-row') || editing(list))) return;
    shownJson = json;
    accepted = items.flatMap((x) => x.files).filter((f) => f.review && f.review.accepted && !f.deleted);
    exportForm.hidden = accepted.length === 0 || !can('video.export');
    draw(items);
  };
  // A submitted file plays as it was received (only files identified by content as playable),
  // or its working copy does.
  const play = (button, f, what, label) => {
    const row = button.closest('tr');
    const old = row.nextElementSibling;
    if (old && old.classList.contains('player-row')) { old.remove(); return; }
    const video = h('video', { class: 'player', controls: true, preload: 'auto', src: `/api/submissions/${f.id}/${what}`, 'aria-label': `Submitted video: ${label}` });
    row.after(h('tr', { class: 'player-row' }, h('td', { colspan: '7' }, video)));
    video.focus();
  };
  const f = form({ id: 'link-form', class: 'inline' }, [
    field('Recipient', h('input', { name: 'recipient', id: 'lk-recipient', required: true }), 'Who it is for, e.g. owner of the 12 Elm St doorbell'),
    field('For request', h('select', { name: 'request_id', id: 'lk-request' }, h('option', { value: '' }, 'the case in general'),
      requests.map((r) => h('option', { value: String(r.id) }, `#${r.id}`)))),
  ], async (v, form_) => {
    const l = await api('POST', `/api/cases/${encodeURIComponent(n)}/links`, { recipient: v.recipient, request_id: v.request_id ? Number(v.request_id) : null });
    form_.reset();
    const url = `${location.origin}${l.url}`;
    shown.replaceChildren(h('p', {}, `Link ${l.id} for ${l.recipient}, open until ${utc(l.expires_us)} UTC. Send it to them now; it is not shown again:`),
      h('code', { id: 'new-link-url', class: 'secret' }, url));
    await reload();
  }, 'Create submission link');
  // Accepted files go into an evidence package of their own (camera exports can include them too).
  const exportForm = form({ id: 'sub-export-form', class: 'inline', hidden: true }, [
    field('Reason for the export', h('input', { name: 'reason', id: 'sx-reason', required: true })),
  ], async (v, form_) => {
    const ids = accepted.map((f) => f.id);
    const times = accepted.map((f) => f.received_us);
    const x = await api('POST', '/api/exports', { cameras: [], submissions: ids, start_us: Math.min(...times), end_us: Math.max(...times), case_number: n, reason: v.reason });
    form_.reset();
    say(note, `Export ${x.id} of ${ids.length} accepted file(s) started; its progress is shown under Evidence exports.`);
    if (exported) await exported();
  }, 'Export the accepted files');
  reload().catch((e) => say(note, e.message, true));
  const el = h('section', { 'aria-labelledby': 'sub-title' }, h('h2', { id: 'sub-title' }, 'Submitted footage'),
    h('p', { class: 'muted' }, 'People with footage send it through a link: no account needed. Each file is kept exactly as received, with its SHA-256; a file a browser cannot play gets a working copy, derived and labelled as such. Accept each file into the case, or reject it with a reason (rejected files are deleted after a while; accepted ones stay with the case).'),
    note, f, shown, list, exportForm, publicCalls(n));
  return { el, reload, accepted: () => accepted.map((f) => f.id) };
}

/**
 * Public calls for video of case `n` (when the server takes them): open one with what, when
 * and a general area; its page's address is shown to publish; close it when done.
 */
function publicCalls(n) {
  const box = h('div', { id: 'public-calls' });
  const note = status('calls-status');
  const draw = async () => {
    const r = await api('GET', `/api/cases/${encodeURIComponent(n)}/public-calls`);
    if (!r.enabled) { box.replaceChildren(); return; }
    const rows = table('calls', ['Call', 'When', 'Area', 'Page', 'State', ''], r.calls, (c) => [c.title, c.window, c.area,
      h('code', {}, `${location.origin}${c.url}`),
      c.closed_us ? `closed ${utc(c.closed_us)} UTC` : `open until ${utc(c.closes_us)} UTC`,
      h('td', {}, c.closed_us ? '' : h('button', { type: 'button', onclick: async () => {
        try { await api('DELETE', `/api/public-calls/${c.id}`); say(note, `Call ${c.id} closed.`); await draw(); }
        catch (e) { say(note, e.message, true); }
      } }, `Close call ${c.id}`))], 'No public call yet.');
    const f = form({ id: 'call-form' }, [
      field('What happened (shown to the public)', h('input', { name: 'title', id: 'pc-title', required: true })),
      field('When', h('input', { name: 'window', id: 'pc-window', required: true }), 'e.g. Tuesday 3 Dec, 01:30–02:30'),
      field('General area', h('input', { name: 'area', id: 'pc-area', required: true }), 'Never an exact address'),
    ], async (v, form_) => {
      const c = await api('POST', `/api/cases/${encodeURIComponent(n)}/public-calls`, v);
      form_.reset();
      say(note, `Call ${c.id} is open: publish ${location.origin}${c.url}`);
      await draw();
    }, 'Open a public call for video');
    box.replaceChildren(h('h3', {}, 'Public calls for video'), note, rows, f);
  };
  draw().catch((e) => say(note, e.message, true));
  return box;
}
