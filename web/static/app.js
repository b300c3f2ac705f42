// The VMS web UI: plain DOM code, no build step. Every call goes through the JSON API, which
// enforces the access policy; the UI only hides what a role cannot use.
'use strict';

let me = null;
const $ = (id) => document.getElementById(id);
const utc = (us) => new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19);

async function api(method, path, body) {
  const headers = { 'Accept': 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && me && me.csrf) headers['X-CSRF-Token'] = me.csrf;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (r.status === 401 && path !== '/api/login') { showLogin(); throw new Error('Signed out'); }
  const text = await r.text();
  const data = text ? JSON.parse(text) : null;
  if (!r.ok) throw new Error((data && data.error) || r.statusText);
  return data;
}

function cell(tr, value, cls) {
  const td = document.createElement('td');
  td.textContent = value === null || value === undefined ? '' : String(value);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fill(tableId, rows, render) {
  const tbody = $(tableId).querySelector('tbody');
  tbody.replaceChildren(...rows.map((row) => { const tr = document.createElement('tr'); render(tr, row); return tr; }));
}

function showLogin() {
  me = null;
  $('login').classList.remove('hidden');
  $('partner').classList.add('hidden');
  $('staff').classList.add('hidden');
  $('who').textContent = '';
}

async function showApp() {
  $('login').classList.add('hidden');
  $('who').replaceChildren();
  const span = document.createElement('span');
  span.textContent = `${me.username} (${me.role}) `;
  const out = document.createElement('button');
  out.textContent = 'Sign out';
  out.id = 'logout';
  out.onclick = async () => { await api('POST', '/api/logout').catch(() => {}); showLogin(); };
  $('who').append(span, out);
  if (me.role === 'partner') { $('partner').classList.remove('hidden'); await refreshPartner(); }
  else {
    $('staff').classList.remove('hidden');
    const investigates = ['investigator', 'supervisor'].includes(me.role);
    $('request-form-section').classList.toggle('hidden', !investigates);
    $('playback-section').classList.toggle('hidden', !investigates);
    if (investigates && !$('pb-end').value) {
      const now = Date.now();
      $('pb-end').value = new Date(now).toISOString().slice(0, 19);
      $('pb-start').value = new Date(now - 120000).toISOString().slice(0, 19);
    }
    await refreshStaff();
  }
}

async function refreshPartner() {
  const [cams, reqs, receipts] = await Promise.all([api('GET', '/api/cameras'), api('GET', '/api/requests'), api('GET', '/api/partner/receipts')]);
  fill('my-cameras', cams, (tr, c) => {
    cell(tr, c.name); cell(tr, c.location);
    const sel = document.createElement('select');
    sel.dataset.camera = c.id;
    for (const m of ['registry', 'on-request', 'live']) { const o = document.createElement('option'); o.value = m; o.textContent = m; o.selected = m === c.sharing; sel.appendChild(o); }
    sel.onchange = () => api('PATCH', `/api/cameras/${c.id}`, { sharing: sel.value }).then(refreshPartner, showError);
    tr.appendChild(document.createElement('td')).appendChild(sel);
    const pause = document.createElement('button');
    pause.textContent = c.paused ? 'Resume' : 'Pause';
    pause.onclick = () => api('PATCH', `/api/cameras/${c.id}`, { paused: !c.paused }).then(refreshPartner, showError);
    tr.appendChild(document.createElement('td')).appendChild(pause);
    cell(tr, `${c.retention_days} days`);
  });
  fill('partner-requests', reqs, (tr, r) => {
    cell(tr, r.id); cell(tr, r.case_number); cell(tr, r.cameras.join(', '));
    cell(tr, `${utc(r.start_us)} – ${utc(r.end_us)}`); cell(tr, `${r.offence}: ${r.reason}`);
    cell(tr, r.exigent ? `exigent (${r.decided_by}): ${r.decision_note}` : r.status, 'status');
    const td = document.createElement('td');
    if (r.status === 'pending') {
      for (const [label, approve] of [['Approve', true], ['Deny', false]]) {
        const b = document.createElement('button');
        b.textContent = label;
        b.className = approve ? 'approve' : 'deny';
        b.onclick = () => api('POST', `/api/requests/${r.id}/decision`, { approve }).then(refreshPartner, showError);
        td.appendChild(b);
      }
    }
    tr.appendChild(td);
  });
  fill('receipts', receipts, (tr, e) => {
    cell(tr, utc(e.at_us)); cell(tr, e.actor); cell(tr, e.action); cell(tr, e.camera);
    cell(tr, [e.case_number, e.reason].filter(Boolean).join(' — ')); cell(tr, e.outcome);
  });
}

async function refreshStaff() {
  const [cams, reqs] = await Promise.all([api('GET', '/api/cameras'), api('GET', '/api/requests')]);
  fill('cameras', cams, (tr, c) => {
    const h = c.health || {};
    cell(tr, `${c.id}: ${c.name}`); cell(tr, c.partner); cell(tr, c.location); cell(tr, c.sharing);
    cell(tr, h.state || (c.sharing === 'registry' ? 'registry only' : 'not recording'), h.state);
    cell(tr, h.fps); cell(tr, h.frames_recorded); cell(tr, h.reconnects); cell(tr, h.last_error);
  });
  if (!$('playback-section').classList.contains('hidden')) {
    const sel = $('pb-camera');
    const keep = sel.value;
    sel.replaceChildren(...cams.filter((c) => c.sharing !== 'registry').map((c) => {
      const o = document.createElement('option');
      o.value = c.id; o.textContent = `${c.id}: ${c.name} (${c.sharing})`;
      return o;
    }));
    if (keep) sel.value = keep;
    await refreshExports();
  }
  fill('requests', reqs, (tr, r) => {
    cell(tr, r.id); cell(tr, r.investigator); cell(tr, r.case_number); cell(tr, r.cameras.join(', '));
    cell(tr, `${utc(r.start_us)} – ${utc(r.end_us)}`); cell(tr, r.status, 'status');
    const td = document.createElement('td');
    if (me.role === 'supervisor' && r.status === 'pending') {
      const b = document.createElement('button');
      b.textContent = 'Exigent access…';
      b.onclick = () => {
        const j = prompt('Written justification for exigent access (shown to the partner and in the transparency report):');
        if (j) api('POST', `/api/requests/${r.id}/exigent`, { justification: j }).then(refreshStaff, showError);
      };
      td.appendChild(b);
    }
    tr.appendChild(td);
  });
}

function showError(e) { $('error').textContent = e.message; }

// ---- playback: a virtual MP4 of the range, and a timeline of what was recorded in it ----

let shown = null; // { camera, start, end } of what the player shows, microseconds UTC

function rangeQuery() {
  const us = (id) => Date.parse($(id).value + 'Z') * 1000;
  const q = new URLSearchParams({ start: us('pb-start'), end: us('pb-end'), reason: $('pb-reason').value });
  if ($('pb-case').value) q.set('case_number', $('pb-case').value);
  return { camera: $('pb-camera').value, start: us('pb-start'), end: us('pb-end'), q };
}

function drawTimeline(spans) {
  const bar = $('timeline');
  bar.querySelectorAll('.span').forEach((e) => e.remove());
  const total = shown.end - shown.start;
  for (const s of spans) {
    const d = document.createElement('div');
    d.className = 'span';
    d.style.left = `${(100 * (s.start_us - shown.start)) / total}%`;
    d.style.width = `${(100 * (s.end_us - s.start_us)) / total}%`;
    d.title = `${utc(s.start_us)} – ${utc(s.end_us)}`;
    bar.appendChild(d);
  }
}

$('pb-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('pb-error').textContent = '';
  const r = rangeQuery();
  try {
    const spans = await api('GET', `/api/cameras/${r.camera}/recordings?${r.q}`);
    shown = r;
    drawTimeline(spans);
    if (spans.length === 0) { $('pb-error').textContent = 'Nothing was recorded in that range.'; return; }
    $('player').src = `/api/cameras/${r.camera}/video.mp4?${r.q}`;
  } catch (e) { $('pb-error').textContent = e.message; }
};

$('player').onerror = () => { $('pb-error').textContent = 'The recording could not be played.'; };
$('player').ontimeupdate = () => {
  if (!shown) return;
  const t = $('player').currentTime;
  $('timeline-cursor').style.left = `${(100 * t * 1e6) / (shown.end - shown.start)}%`;
  $('pb-info').textContent = `${utc(shown.start + t * 1e6)} UTC`;
};
$('timeline').onclick = (ev) => {
  if (!shown) return;
  const box = $('timeline').getBoundingClientRect();
  $('player').currentTime = (((ev.clientX - box.left) / box.width) * (shown.end - shown.start)) / 1e6;
};

$('pb-export').onclick = async () => {
  $('pb-error').textContent = '';
  const r = rangeQuery();
  if (!$('pb-case').value) { $('pb-error').textContent = 'An export needs a case number.'; return; }
  try {
    await api('POST', '/api/exports', {
      cameras: [parseInt(r.camera, 10)], start_us: r.start, end_us: r.end,
      case_number: $('pb-case').value, reason: $('pb-reason').value,
    });
    await refreshExports();
  } catch (e) { $('pb-error').textContent = e.message; }
};

async function refreshExports() {
  const list = await api('GET', '/api/exports');
  fill('exports', list, (tr, x) => {
    cell(tr, x.id); cell(tr, x.case_number); cell(tr, x.cameras.join(', '));
    cell(tr, `${utc(x.start_us)} – ${utc(x.end_us)}`);
    const pct = x.bytes_total ? ` ${Math.floor((100 * x.bytes_done) / x.bytes_total)}%` : '';
    cell(tr, x.status === 'running' ? `running${pct}` : x.status === 'failed' ? `failed: ${x.error}` : 'done', 'status');
    const td = document.createElement('td');
    for (const f of x.files) {
      const a = document.createElement('a');
      a.href = `/api/exports/${x.id}/files/${encodeURIComponent(f)}`;
      a.textContent = f;
      td.append(a, ' ');
    }
    tr.appendChild(td);
  });
}

$('login-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    me = await api('POST', '/api/login', { username: $('username').value, password: $('password').value, totp: $('totp').value || null });
    $('password').value = ''; $('totp').value = '';
    await showApp();
  } catch (e) { $('login-error').textContent = e.message; }
};

$('request-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('request-error').textContent = '';
  const us = (id) => Date.parse($(id).value + 'Z') * 1000;
  try {
    await api('POST', '/api/requests', {
      cameras: $('rq-cameras').value.split(',').map((s) => parseInt(s.trim(), 10)),
      start_us: us('rq-start'), end_us: us('rq-end'),
      case_number: $('rq-case').value, offence: $('rq-offence').value, reason: $('rq-reason').value,
    });
    ev.target.reset();
    await refreshStaff();
  } catch (e) { $('request-error').textContent = e.message; }
};

for (const [id, status] of [['pause-all', 'paused'], ['resume-all', 'active'], ['leave', 'left']]) {
  $(id).onclick = async () => {
    if (status === 'left' && !confirm('Leave the program? Recording stops and your recorded video is deleted, except what is under a legal hold.')) return;
    try { const r = await api('POST', '/api/partner/status', { status }); $('status-note').textContent = r.note; await refreshPartner(); }
    catch (e) { showError(e); }
  };
}

// Resume a session after a reload; refresh lists every few seconds.
api('GET', '/api/me').then((m) => { me = m; return showApp(); }).catch(() => showLogin());
setInterval(() => { if (!me) return; (me.role === 'partner' ? refreshPartner() : refreshStaff()).catch(() => {}); }, 3000);
