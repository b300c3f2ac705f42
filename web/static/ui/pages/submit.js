// The page a submission link opens (no account: the link's token is the credential). The
// submitter tells us about the footage and agrees to the attestation, then sends the files
// with tus (resumable: a dropped connection or a closed laptop resumes where it stopped), with
// a progress bar, pause and resume, and a clear message per file.
//
// The token arrives in the URL's fragment (never sent to a server by the browser), is kept in
// this tab's session storage, and is taken out of the address bar at once.

import { ApiError } from '../api.js';
import { h, field, pageTitle, utc } from '../dom.js';

const KEY = 'vms-submission-token';

function token() {
  const fromLink = location.hash.slice(1);
  if (fromLink) {
    sessionStorage.setItem(KEY, fromLink);
    history.replaceState(null, '', '/submit');
  }
  return sessionStorage.getItem(KEY) || '';
}

async function call(method, path, tok, body) {
  const headers = { Accept: 'application/json', 'Submission-Token': tok };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'omit' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.error) || `The server refused (${r.status}).`, data);
  return data;
}

/** Loads the vendored tus client (a classic script that defines `window.tus`). */
function loadTus() {
  if (window.tus) return Promise.resolve(window.tus);
  return new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = '/ui/vendor/tus.min.js';
    s.onload = () => resolve(window.tus);
    s.onerror = () => reject(new Error('The upload component could not be loaded.'));
    document.head.append(s);
  });
}

const size = (n) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.ceil(n / 1e3)} kB`);

export async function render(ctx) {
  const tok = token();
  let info;
  try {
    if (!tok) throw new Error('This page opens from the link an investigator sent you.');
    info = await call('GET', '/api/submission', tok);
  } catch (e) {
    ctx.view.append(pageTitle('Send footage'), h('p', { class: 'error', role: 'alert', id: 'submit-error' }, e.message));
    return null;
  }
  const statementSection = h('section', { 'aria-labelledby': 'st-title' });
  const filesSection = h('section', { 'aria-labelledby': 'files-title', hidden: !info.statement_made });
  ctx.view.append(pageTitle(`Send footage for case ${info.case_number}`),
    h('p', {}, `This link is for ${info.recipient} and works until ${utc(info.expires_us)} UTC. You can send up to ${info.files_per_link} files, each up to ${size(info.bytes_per_file)}. Files are kept exactly as you send them.`),
    statementSection, filesSection);

  // ---- the statement ----
  if (info.statement_made) {
    statementSection.append(h('h2', { id: 'st-title' }, 'About the footage'), h('p', { class: 'ok' }, 'Thank you: your statement is recorded.'));
  } else {
    const err = h('p', { class: 'error', role: 'alert', id: 'statement-error' });
    const minutes = h('input', { type: 'number', name: 'offset_minutes', id: 'st-offset', min: '0', step: '1' });
    const dir = h('select', { name: 'offset_dir', id: 'st-offset-dir', 'aria-label': 'Fast or slow' }, h('option', { value: '1' }, 'fast'), h('option', { value: '-1' }, 'slow'));
    const f = h('form', { id: 'statement-form' },
      h('h2', { id: 'st-title' }, 'About the footage'),
      field('Your name (optional)', h('input', { name: 'name', id: 'st-name', autocomplete: 'name' })),
      field('How to reach you (optional)', h('input', { name: 'contact', id: 'st-contact', autocomplete: 'email' }), 'Phone or email, if the investigator may have questions'),
      field('Where is the camera?', h('input', { name: 'camera_location', id: 'st-location', required: true }), 'e.g. doorbell at 12 Elm St, facing the street'),
      field('What does the footage show?', h('textarea', { name: 'shows', id: 'st-shows', required: true, rows: '2' })),
      field('When was it recorded?', h('input', { name: 'recorded_when', id: 'st-when', required: true }), 'As your recorder shows it, e.g. 3 Dec 02:00–02:30'),
      h('div', { class: 'field' }, h('label', { for: 'st-offset' }, 'Is the camera’s clock off? (optional)'),
        h('div', {}, minutes, ' minutes ', dir), h('span', { class: 'hint' }, 'e.g. 7 minutes fast. Leave empty if you do not know.')),
      h('fieldset', {}, h('legend', {}, `Attestation (version ${info.attestation_version})`),
        h('p', { id: 'attestation-text' }, info.attestation_text),
        h('div', { class: 'pick' }, h('input', { type: 'checkbox', name: 'attest', id: 'st-attest', required: true, 'aria-describedby': 'attestation-text' }),
          h('label', { for: 'st-attest' }, 'I agree to this statement'))),
      h('div', { class: 'actions' }, h('button', { type: 'submit', id: 'statement-send' }, 'Continue')), err);
    f.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.textContent = '';
      const v = Object.fromEntries(new FormData(f));
      const m = v.offset_minutes === '' ? null : Number(v.offset_minutes);
      try {
        await call('POST', '/api/submission/statement', tok, {
          name: v.name, contact: v.contact, camera_location: v.camera_location, shows: v.shows, recorded_when: v.recorded_when,
          clock_offset_secs: m === null ? null : Math.round(m * 60) * Number(v.offset_dir), attest: f.elements.attest.checked,
        });
        statementSection.replaceChildren(h('h2', { id: 'st-title' }, 'About the footage'), h('p', { class: 'ok', role: 'status' }, 'Thank you: your statement is recorded. Now add the files.'));
        filesSection.hidden = false;
        filesSection.querySelector('input[type=file]').focus();
      } catch (e) { err.textContent = e.message; }
    });
    statementSection.append(f);
  }

  // ---- the files ----
  const picker = h('input', { type: 'file', id: 'files', multiple: true });
  const list = h('ul', { id: 'file-list', class: 'uploads' });
  const send = h('button', { type: 'button', id: 'files-send' }, 'Send files');
  const note = h('p', { role: 'status', id: 'files-note' });
  const received = h('ul', { id: 'received' }, info.files.filter((x) => x.sha256).map((x) => h('li', {}, `${x.filename} (${size(x.length)}) — received`)));
  filesSection.append(h('h2', { id: 'files-title' }, 'Your files'),
    h('p', { class: 'muted' }, 'Export the footage from your recorder or app as it is; there is no need to convert it. If the connection drops, open this page again and send the same file: it continues where it stopped.'),
    field('Video files', picker), h('div', { class: 'actions' }, send), note, list,
    received.children.length ? h('div', {}, h('h3', {}, 'Already received'), received) : '');

  const uploads = [];
  send.addEventListener('click', async () => {
    note.textContent = '';
    const files = [...picker.files];
    if (!files.length) { note.textContent = 'Choose the files to send first.'; picker.focus(); return; }
    let tus;
    try { tus = await loadTus(); } catch (e) { note.textContent = e.message; return; }
    send.disabled = true;
    for (const file of files) uploads.push(startUpload(tus, tok, file, list, note));
    picker.value = '';
    await Promise.allSettled(uploads.map((u) => u.done));
    send.disabled = false;
    const failed = uploads.filter((u) => u.failed).length;
    note.textContent = failed ? `${failed} file${failed > 1 ? 's' : ''} could not be sent; see the message next to each.` : 'All files were received. Thank you.';
  });
  return { leave() { for (const u of uploads) u.upload.abort(); } };
}

/** One file's upload with its row: progress bar, status, pause/resume. */
function startUpload(tus, tok, file, list, note) {
  const bar = h('progress', { max: '100', value: '0', 'aria-label': `Progress of ${file.name}` });
  const status = h('span', { class: 'upload-status', role: 'status' }, 'starting…');
  const toggle = h('button', { type: 'button' }, `Pause ${file.name}`);
  list.append(h('li', { class: 'upload', dataset: { name: file.name } }, h('strong', {}, file.name), ` (${size(file.size)}) `, bar, ' ', status, ' ', toggle));
  const item = { failed: false };
  item.done = new Promise((resolve) => {
    const upload = new tus.Upload(file, {
      endpoint: '/api/uploads',
      headers: { 'Submission-Token': tok },
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      onProgress(sent, total) {
        const pct = total ? Math.floor((100 * sent) / total) : 0;
        bar.value = pct;
        status.textContent = `${pct} % sent`;
      },
      onSuccess() {
        bar.value = 100;
        status.textContent = 'received';
        status.className = 'upload-status ok';
        toggle.remove();
        resolve();
      },
      onError(err) {
        item.failed = true;
        const body = err.originalResponse ? err.originalResponse.getBody() : '';
        let msg = 'the connection failed; open this page again to continue';
        try { msg = JSON.parse(body).error || msg; } catch (_) { /* not JSON */ }
        status.textContent = `not sent: ${msg}`;
        status.className = 'upload-status error';
        toggle.remove();
        resolve();
      },
    });
    item.upload = upload;
    let paused = false;
    toggle.addEventListener('click', () => {
      paused = !paused;
      if (paused) { upload.abort(); status.textContent = 'paused'; toggle.textContent = `Resume ${file.name}`; }
      else { upload.start(); toggle.textContent = `Pause ${file.name}`; }
    });
    // A file sent before from this browser continues where it stopped.
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
      upload.start();
    }).catch(() => upload.start());
  });
  note.textContent = '';
  return item;
}
