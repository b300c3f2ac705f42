// The VMS web UI: plain DOM code, no build step. Every call goes through the JSON API, which
// enforces the access policy; the UI only hides what a role cannot use.
'use strict';

let me = null;
const $ = (id) => document.getElementById(id);
const utc = (us) => new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19);
// A request for footage that was refused before says so, wherever it is shown (issue 22 F15).
const followsDenial = (r) => {
  const ids = r.earlier_denied || [];
  return ids.length ? ` — follows denied request ${ids.map((id) => `#${id}`).join(', ')}` : '';
};

// `background`: the UI's own periodic refresh, which must not keep the session from idling
// out (the server ignores it for activity; only the user's requests count).
async function api(method, path, body, background = false) {
  const headers = { 'Accept': 'application/json' };
  if (background === true) headers['X-VMS-Background'] = '1';
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
  stopLive(); // while the CSRF token is still known, so the views' DELETEs are accepted
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
    $('live-section').classList.toggle('hidden', !['viewer', 'investigator', 'supervisor'].includes(me.role));
    if (investigates && !$('pb-end').value) {
      const now = Date.now();
      $('pb-end').value = new Date(now).toISOString().slice(0, 19);
      $('pb-start').value = new Date(now - 120000).toISOString().slice(0, 19);
    }
    await refreshStaff();
  }
}

async function refreshPartner(bg = false) {
  const [cams, reqs, receipts] = await Promise.all([api('GET', '/api/cameras', undefined, bg), api('GET', '/api/requests', undefined, bg), api('GET', '/api/partner/receipts', undefined, bg)]);
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
    cell(tr, (r.exigent ? `exigent (${r.decided_by}): ${r.decision_note}` : r.status) + followsDenial(r), 'status');
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

async function refreshStaff(bg = false) {
  // Only investigators and supervisors see requests (viewers and administrators may not).
  const seesRequests = ['investigator', 'supervisor'].includes(me.role);
  $('requests-section').classList.toggle('hidden', !seesRequests);
  const [cams, reqs] = await Promise.all([api('GET', '/api/cameras', undefined, bg), seesRequests ? api('GET', '/api/requests', undefined, bg) : []]);
  fill('cameras', cams, (tr, c) => {
    const h = c.health || {};
    cell(tr, `${c.id}: ${c.name}`); cell(tr, c.partner); cell(tr, c.location); cell(tr, c.sharing);
    cell(tr, h.state || (c.sharing === 'registry' ? 'registry only' : 'not recording'), h.state);
    cell(tr, h.fps); cell(tr, h.frames_recorded); cell(tr, h.reconnects); cell(tr, h.stalls);
    cell(tr, h.drift_ms === undefined ? '' : `${h.drift_ms} ms`); cell(tr, h.last_error);
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
    await refreshExports(bg);
  }
  fill('requests', reqs, (tr, r) => {
    cell(tr, r.id); cell(tr, r.investigator); cell(tr, r.case_number); cell(tr, r.cameras.join(', '));
    cell(tr, `${utc(r.start_us)} – ${utc(r.end_us)}`); cell(tr, r.status + followsDenial(r), 'status');
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

async function refreshExports(bg = false) {
  const list = await api('GET', '/api/exports', undefined, bg);
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

// The name and password that earned a second factor to enrol, kept only until it is done.
let enrolling = null;

$('login-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const creds = { username: $('username').value, password: $('password').value };
    const r = await api('POST', '/api/login', { ...creds, totp: $('totp').value || null });
    $('password').value = ''; $('totp').value = '';
    if (r.enrol) {
      // First sign-in: the owner enrols their own authenticator (the server opened no session).
      enrolling = creds;
      $('enrol-link').href = r.enrol.otpauth_uri;
      $('enrol-secret').textContent = r.enrol.secret;
      $('login').classList.add('hidden');
      $('enrol').classList.remove('hidden');
      $('enrol-code').focus();
      return;
    }
    me = r;
    await showApp();
  } catch (e) { $('login-error').textContent = e.message; }
};

$('enrol-form').onsubmit = async (ev) => {
  ev.preventDefault();
  $('enrol-error').textContent = '';
  if ($('enrol-password').value !== $('enrol-password2').value) {
    $('enrol-error').textContent = 'The two new passwords differ.';
    return;
  }
  try {
    me = await api('POST', '/api/login', { ...enrolling, totp: $('enrol-code').value, new_password: $('enrol-password').value });
    enrolling = null;
    for (const id of ['enrol-code', 'enrol-password', 'enrol-password2']) $(id).value = '';
    $('enrol').classList.add('hidden');
    await showApp();
  } catch (e) { $('enrol-error').textContent = e.message; }
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


// ---- live view: one WHEP session (RTCPeerConnection, receive only) per tile ----
//
// A tile reconnects by itself when its connection fails (server restart, network) with
// backoff; while the camera itself is down the connection stays up and the picture resumes at
// the camera's next keyframe. Each tile records, for tests and ops, the decoded frame count
// across reconnects and the time from page load to its first decoded frame.

const tiles = [];
let iceServers = null;

function stopLive() {
  for (const t of tiles.splice(0)) closeTile(t, true);
  const grid = $('live-grid');
  if (grid) grid.replaceChildren();
}

function closeTile(t, stop) {
  if (stop) { t.stopped = true; clearInterval(t.timer); }
  if (t.location) { endSession(t.location); t.location = null; }
  if (t.pc) { t.frameBase += t.lastFrames; t.lastFrames = 0; t.pc.close(); t.pc = null; }
}

// keepalive: the DELETE still goes out when the page is being closed.
function endSession(location) {
  fetch(location, { method: 'DELETE', keepalive: true, credentials: 'same-origin',
                    headers: { 'X-CSRF-Token': me ? me.csrf : '' } }).catch(() => {});
}

async function startLive() {
  stopLive();
  $('live-error').textContent = '';
  const reason = $('live-reason').value.trim();
  if (!reason) { $('live-error').textContent = 'Give a reason: every live view is audited and shown to the partner.'; return; }
  const n = Number($('live-layout').value);
  $('live-grid').className = `grid-${n}`;
  try {
    if (!iceServers) iceServers = (await api('GET', '/api/live/config')).ice_servers;
    const cams = (await api('GET', '/api/cameras')).filter((c) => c.sharing === 'live').slice(0, n);
    if (!cams.length) { $('live-error').textContent = 'No camera is shared for live view.'; return; }
    for (const c of cams) tiles.push(liveTile(c, reason));
    $('live-grid').replaceChildren(...tiles.map((t) => t.el));
  } catch (e) { $('live-error').textContent = e.message; }
}

function liveTile(cam, reason) {
  const el = document.createElement('div');
  el.className = 'tile';
  el.dataset.camera = cam.id;
  const video = document.createElement('video');
  video.muted = true; video.autoplay = true; video.playsInline = true;
  const label = document.createElement('span');
  label.className = 'label';
  const msg = document.createElement('span');
  msg.className = 'msg';
  el.append(video, label, msg);
  const t = { cam, reason, el, video, label, msg, pc: null, location: null, stopped: false, retry: 0,
              frameBase: 0, lastFrames: 0, connects: 0, downSince: null };
  // The first picture shown, timed from page load (requestVideoFrameCallback fires when a
  // decoded frame is presented; getStats is only polled once a second).
  if (video.requestVideoFrameCallback) {
    video.requestVideoFrameCallback(() => { t.el.dataset.firstFrameMs = Math.round(performance.now()); });
  }
  showTileHealth(t);
  connectTile(t);
  t.timer = setInterval(() => watchTile(t), 1000);
  return t;
}

function showTileHealth(t) {
  const h = t.cam.health || {};
  t.label.textContent = `${t.cam.name} · ${h.state || 'not recording'}${h.fps ? ` · ${h.fps} fps` : ''}`;
}

function iceGathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') return resolve();
    const done = () => { if (pc.iceGatheringState === 'complete') resolve(); };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

async function connectTile(t) {
  closeTile(t, false);
  if (t.stopped) return;
  const codec = (t.cam.health && t.cam.health.codec) || '';
  if (codec && !codec.startsWith('avc1')) {
    t.msg.textContent = 'Live view needs H.264: this camera sends H.265. Ask the partner to set its stream (or a sub-stream) to H.264, or use playback.';
    return;
  }
  t.msg.textContent = 'connecting…';
  t.connects += 1;
  showTileCounters(t);
  const pc = new RTCPeerConnection({ iceServers: iceServers || [] });
  t.pc = pc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.ontrack = (e) => { t.video.srcObject = e.streams[0] || new MediaStream([e.track]); t.video.play().catch(() => {}); };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, 2000);
    const r = await fetch(`/api/cameras/${t.cam.id}/whep?reason=${encodeURIComponent(t.reason)}`, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/sdp', 'X-CSRF-Token': me ? me.csrf : '' },
      body: pc.localDescription.sdp,
    });
    if (r.status === 401) { showLogin(); return; }
    if (r.status !== 201) {
      const d = await r.json().catch(() => ({}));
      const e = new Error(d.error || r.statusText); e.status = r.status; throw e;
    }
    const location = r.headers.get('Location');
    const answer = await r.text();
    // Stopped or replaced while the offer was in flight: end the session just created.
    if (t.stopped || t.pc !== pc) { endSession(location); return; }
    t.location = location;
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    t.msg.textContent = 'waiting for picture…';
  } catch (e) {
    if (t.stopped || t.pc !== pc) return;
    t.msg.textContent = e.message;
    if (e.status === 403 || e.status === 404 || e.status === 422) { t.stopped = true; return; } // retrying cannot help
    reconnectLater(t, e.status === 503);
  }
}

// Backoff 1 s doubling to 10 s; to 30 s while the server says the camera is not running.
function reconnectLater(t, unavailable) {
  if (t.stopped || t.pending) return;
  const delay = Math.min(unavailable ? 30000 : 10000, 1000 * 2 ** Math.min(t.retry++, 5));
  t.msg.textContent = `reconnecting in ${Math.round(delay / 1000)} s…`;
  t.pending = setTimeout(() => { t.pending = null; connectTile(t); }, delay);
}

function showTileCounters(t) {
  t.el.dataset.framesDecoded = t.frameBase + t.lastFrames;
  t.el.dataset.connects = t.connects;
}

async function watchTile(t) {
  const pc = t.pc;
  if (!pc || t.stopped) return;
  let frames = 0;
  try {
    (await pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded || 0; });
  } catch (_) { return; }
  if (pc !== t.pc) return;
  const now = performance.now();
  if (frames > t.lastFrames) {
    if (t.el.dataset.firstFrameMs === undefined) t.el.dataset.firstFrameMs = Math.round(now);
    t.lastFrames = frames; t.retry = 0; t.msg.textContent = ''; t.frozenSince = now;
  }
  // The camera streams (says the server) but this session decodes nothing: the session is
  // dead (server restarted, network path gone) even if ICE has not noticed yet.
  t.frozenSince = t.frozenSince || now;
  // 'degraded' still streams; it is dropping frames it cannot record.
  const streaming = t.cam.health && ['streaming', 'degraded'].includes(t.cam.health.state);
  if (streaming && now - t.frozenSince > 6000) { t.frozenSince = now; reconnectLater(t); return; }
  showTileCounters(t);
  // The server or the network is gone (not merely the camera): start a new session.
  const state = pc.connectionState;
  if (state === 'failed' || state === 'closed') { reconnectLater(t); return; }
  if (state === 'disconnected') {
    t.downSince = t.downSince || performance.now();
    if (performance.now() - t.downSince > 4000) { t.downSince = null; reconnectLater(t); }
  } else {
    t.downSince = null;
    if (state === 'connected' && t.cam.health && !['streaming', 'degraded'].includes(t.cam.health.state) && frames === t.lastFrames) {
      t.msg.textContent = 'camera offline — the picture resumes when it is back';
    }
  }
}

async function refreshLiveHealth(bg = false) {
  if (!tiles.length) return;
  const cams = await api('GET', '/api/cameras', undefined, bg);
  for (const t of tiles) {
    const c = cams.find((x) => x.id === t.cam.id);
    if (c) { t.cam = c; showTileHealth(t); }
  }
}

$('live-form').onsubmit = (ev) => { ev.preventDefault(); startLive(); };
$('live-stop').onclick = () => stopLive();
window.addEventListener('pagehide', () => stopLive());

// Resume a session after a reload; refresh lists every few seconds. `?live=N` preselects the
// live grid's layout and puts the cursor in the reason field. A link never starts a view and
// never supplies the reason: both would be audited under the signed-in user's name (issue 22
// C1), so the user types the reason and presses "Watch live".
api('GET', '/api/me').then(async (m) => {
  me = m;
  await showApp();
  const q = new URLSearchParams(location.search);
  const layout = q.get('live');
  if (layout && !$('live-section').classList.contains('hidden')) {
    if ([...$('live-layout').options].some((o) => o.value === layout)) $('live-layout').value = layout;
    $('live-reason').focus();
  }
}).catch((e) => { showLogin(); if (e.message !== 'Signed out') $('login-error').textContent = e.message; });
setInterval(() => {
  if (!me) return;
  (me.role === 'partner' ? refreshPartner(true) : refreshStaff(true)).catch(() => {});
  refreshLiveHealth(true).catch(() => {});
}, 3000);
