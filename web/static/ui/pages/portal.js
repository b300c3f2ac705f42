// The partner portal: my cameras (enrol, sharing, retention, pause), footage requests to
// answer, access receipts (every access to my cameras), and participation (terms, pause all,
// leave the program with the legal-hold notice).

import { api } from '../api.js';
import { h, pageTitle, utc, table, refill, status, say, editing } from '../dom.js';
import { enrollForm } from '../enroll.js';
import { placeSection } from '../register.js';

const followsDenial = (r) => {
  const ids = r.earlier_denied || [];
  return ids.length ? ` — follows denied request ${ids.map((id) => `#${id}`).join(', ')}` : '';
};

export async function cameras(ctx) {
  const note = status('cameras-status');
  const render = (c) => {
    const h1 = c.health || {};
    // Changed with the keyboard, a select moves through every option: the change is saved
    // only when the partner presses Save.
    const sharing = h('select', { 'aria-label': `Sharing of ${c.name}`, dataset: { camera: c.id } },
      ['registry', 'on-request', 'live'].map((m) => h('option', { value: m, selected: m === c.sharing }, m)));
    const days = h('input', { type: 'number', min: '1', max: '365', value: String(c.retention_days), 'aria-label': `Days ${c.name} keeps video`, class: 'days' });
    const save = h('button', { type: 'button', onclick: () => change(c, { sharing: sharing.value, retention_days: Number(days.value) }, `${c.name}: saved.`) }, `Save ${c.name}`);
    const pause = h('button', { type: 'button', onclick: () => change(c, { paused: !c.paused }, c.paused ? `${c.name}: recording resumes.` : `${c.name}: paused.`) }, c.paused ? `Resume ${c.name}` : `Pause ${c.name}`);
    const where = [c.address, c.lat !== null && c.lat !== undefined ? `${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}` : 'not on the map'].filter(Boolean).join(' — ');
    if (c.source === 'registered') {
      return [c.name, where, 'registry', h('td', { class: 'recording' }, 'registered (no video)'), '', '', ''];
    }
    return [c.name, where, h('td', {}, sharing), h('td', { class: `recording ${h1.state || ''}` }, c.paused ? 'paused' : h1.state || 'not recording'),
      h1.frames_recorded ?? '', h('td', {}, days), h('td', {}, save, ' ', pause)];
  };
  let mine = await api('GET', '/api/cameras');
  const list = table('my-cameras', ['Camera', 'Where', 'Sharing', 'Recording', 'Frames recorded', 'Keep video (days)', ''], mine, render, 'You have not enrolled a camera yet.');
  async function change(c, body, done) {
    try { await api('PATCH', `/api/cameras/${c.id}`, body); say(note, done); await refresh(false); }
    catch (e) { say(note, `${c.name}: ${e.message}`, true); }
  }
  async function refresh(background) {
    if (background && editing(list)) return; // the partner is changing a row
    mine = await api('GET', '/api/cameras', undefined, { background });
    refill(list, mine, render, 'You have not enrolled a camera yet.');
  }
  const place = await placeSection(() => mine, () => refresh(false));
  const added = h('p', { role: 'status', class: 'ok', id: 'enroll-done' });
  ctx.view.append(pageTitle('My cameras'), h('section', {}, list, note),
    h('section', { 'aria-labelledby': 'enroll-title' }, h('h2', { id: 'enroll-title' }, 'Connect a camera'),
      h('p', { class: 'muted' }, 'The server records the camera’s main stream. You decide how the agency may use it, and you see every access.'),
      enrollForm({ onDone: async (cam) => { added.textContent = `${cam.name} enrolled; recording starts within seconds.`; await refresh(false); } }), added),
    place.section);
  place.shown();
  return { refresh };
}

export async function requests(ctx) {
  const note = status('requests-status');
  const render = (r) => {
    const td = h('td', {});
    if (r.status === 'pending') {
      const noteInput = h('input', { 'aria-label': `Note to the investigator about request ${r.id}`, placeholder: 'Note (optional)' });
      for (const [label, approve] of [['Approve', true], ['Deny', false]]) {
        td.append(h('button', { type: 'button', class: approve ? 'approve' : 'deny', 'aria-label': `${label} request ${r.id}`,
          onclick: async () => {
            try {
              await api('POST', `/api/requests/${r.id}/decision`, { approve, note: noteInput.value });
              say(note, `Request ${r.id} ${approve ? 'approved' : 'denied'}.`);
              await refresh(false);
            } catch (e) { say(note, `Request ${r.id}: ${e.message}`, true); }
          } }, label), ' ');
      }
      td.append(noteInput);
    }
    // A registered camera has no stream the agency can reach: its owner answers with files.
    if (r.status === 'pending' || r.status === 'approved') {
      td.append(' ', h('button', { type: 'button', class: 'send-files', 'aria-label': `Send files for request ${r.id}`,
        onclick: async () => {
          try {
            const l = await api('POST', `/api/requests/${r.id}/submission-link`);
            location.assign(l.url);
          } catch (e) { say(note, `Request ${r.id}: ${e.message}`, true); }
        } }, 'Send files'));
    }
    return [`#${r.id}`, r.case_number, r.cameras.join(', '), `${utc(r.start_us)} – ${utc(r.end_us)}`, `${r.offence}: ${r.reason}`,
      h('td', { class: 'status' }, (r.exigent ? `exigent (${r.decided_by}): ${r.decision_note}` : r.status) + followsDenial(r)), td];
  };
  const list = table('partner-requests', ['#', 'Case', 'Cameras', 'Range (UTC)', 'Reason', 'Status', ''], await api('GET', '/api/requests'), render, 'No request for your cameras.');
  async function refresh(background) {
    if (background && editing(list)) return; // a note is being written
    refill(list, await api('GET', '/api/requests', undefined, { background }), render, 'No request for your cameras.');
  }
  ctx.view.append(pageTitle('Footage requests'), h('p', { class: 'muted' }, 'Investigators ask for footage of your cameras; nothing is shared until you approve (except exigent access, which a supervisor justifies in writing and you see here). For a camera the agency cannot reach, answer with files exported from its recorder: “Send files”.'), note, list);
  return { refresh };
}

export async function receipts(ctx) {
  // Submission events say which file in their detail.
  const render = (e) => [utc(e.at_us), e.actor, e.action, e.camera,
    [e.case_number, e.reason, e.action.startsWith('submission.') ? e.detail : ''].filter(Boolean).join(' — '), e.outcome];
  const list = table('receipts', ['When (UTC)', 'Who', 'What', 'Camera', 'Case / reason', 'Outcome'], await api('GET', '/api/partner/receipts'), render, 'No one has accessed your cameras.');
  ctx.view.append(pageTitle('Access receipts'), h('p', { class: 'muted' }, 'Every access to your cameras: who, when and why.'), list);
  return { async refresh(background) { refill(list, await api('GET', '/api/partner/receipts', undefined, { background }), render, 'No one has accessed your cameras.'); } };
}

export async function participation(ctx) {
  const me = await api('GET', '/api/partner');
  const note = h('p', { id: 'status-note', role: 'status' });
  const error = h('p', { class: 'error', role: 'alert', id: 'participation-error' });
  const terms = h('section', { 'aria-labelledby': 'terms-title' }, h('h2', { id: 'terms-title' }, 'Program terms'));
  const showTerms = (p) => {
    const current = p.terms_version === p.terms_current;
    terms.replaceChildren(terms.firstChild, h('p', { id: 'terms-state' }, current ? `You accepted version ${p.terms_version} on ${utc(p.terms_accepted_us)} UTC.` : `Version ${p.terms_current} is in force${p.terms_version ? ` (you accepted ${p.terms_version})` : ''}.`),
      current ? '' : h('button', { type: 'button', id: 'accept-terms', onclick: async () => {
        error.textContent = '';
        try { const r = await api('POST', '/api/partner/terms', { version: p.terms_current }); showTerms({ ...r, terms_current: p.terms_current }); }
        catch (e) { error.textContent = e.message; }
      } }, `Accept version ${p.terms_current}`));
  };
  showTerms(me);
  const setStatus = async (s) => {
    error.textContent = '';
    if (s === 'left' && !confirm('Leave the program? Recording stops and your recorded video is deleted, except what is under a legal hold.')) return;
    try {
      const r = await api('POST', '/api/partner/status', { status: s });
      note.textContent = r.note;
      state.textContent = `Status: ${r.status}`;
      if (r.legal_holds.length) {
        note.append(h('ul', { id: 'leave-holds' }, r.legal_holds.map((x) => h('li', {}, `Hold #${x.id}: camera ${x.camera}, ${utc(x.start_us)} – ${utc(x.end_us)} UTC`))));
      }
    } catch (e) { error.textContent = e.message; }
  };
  const state = h('p', { id: 'partner-state' }, `Status: ${me.status}`);
  const emailNote = status('notices-status');
  const emailBox = h('input', { type: 'checkbox', id: 'email-notices', checked: me.email_notices });
  emailBox.addEventListener('change', async () => {
    try {
      const r = await api('PUT', '/api/partner/notices', { email: emailBox.checked });
      say(emailNote, r.email ? 'You will be emailed when investigators ask for footage.' : 'No more emails: requests show here in the portal only.');
    } catch (e) { emailBox.checked = !emailBox.checked; say(emailNote, e.message, true); }
  });
  ctx.view.append(pageTitle('Participation'), terms,
    h('section', { 'aria-labelledby': 'notices-title' }, h('h2', { id: 'notices-title' }, 'Requests by email'),
      h('div', { class: 'pick' }, emailBox, h('label', { for: 'email-notices' }, 'Email me when investigators ask for footage of my cameras')),
      h('p', { class: 'muted' }, 'Emails carry the case, the time window and a link to answer; never video, never where the incident was.'), emailNote),
    h('section', { 'aria-labelledby': 'part-title' }, h('h2', { id: 'part-title' }, 'Recording'), state,
      h('div', { class: 'actions' },
        h('button', { type: 'button', id: 'pause-all', onclick: () => setStatus('paused') }, 'Pause all recording'),
        h('button', { type: 'button', id: 'resume-all', onclick: () => setStatus('active') }, 'Resume'),
        h('button', { type: 'button', id: 'leave', onclick: () => setStatus('left') }, 'Leave the program')),
      h('p', { class: 'muted' }, 'Leaving stops recording and deletes your recorded video, except ranges a court or supervisor has placed under legal hold; those are kept until the hold is lifted, and you are shown them here.'),
      note, error));
}
