// Live view: one WHEP session (RTCPeerConnection, receive only) per tile of a grid.
//
// A tile reconnects by itself when its connection fails (server restart, network) with
// backoff; while the camera itself is down the connection stays up and the picture resumes at
// the camera's next keyframe. Each tile records, for tests and ops, the decoded frame count
// across reconnects and the time from page load to its first decoded frame.
//
// `/live?layout=N` preselects the grid and puts the cursor in the reason field. A link never
// starts a view and never supplies the reason: both would be audited under the signed-in
// user's name (issue 22 C1), so the user types the reason and presses "Watch live".

import { api, session } from '../api.js';
import { h, field, pageTitle } from '../dom.js';

export async function render(ctx) {
  const tiles = [];
  let iceServers = null;
  // Each start (and leaving the page) begins a new generation: a start still waiting on the
  // API when it is overtaken opens no sessions.
  let generation = 0;
  const layout = h('select', { id: 'live-layout', name: 'layout' }, ['1', '4', '9', '16'].map((n) => h('option', { value: n, selected: n === (ctx.query.get('layout') || '4') }, n)));
  const reason = h('input', { id: 'live-reason', name: 'reason', required: true, autocomplete: 'off' });
  const error = h('p', { class: 'error', id: 'live-error', role: 'alert' });
  const grid = h('div', { id: 'live-grid', class: 'grid-4' });
  const formEl = h('form', { id: 'live-form', class: 'inline' },
    field('Layout', layout),
    field('Reason', reason, 'Audited, and shown to the camera’s partner'),
    h('div', { class: 'actions' }, h('button', { id: 'live-start', type: 'submit' }, 'Watch live'), h('button', { id: 'live-stop', type: 'button', onclick: () => stop() }, 'Stop')));
  ctx.view.append(h('section', { id: 'live-section' }, pageTitle('Live view'), formEl, error, grid));
  if (ctx.query.get('layout')) { reason.focus(); ctx.keepFocus = true; }

  formEl.addEventListener('submit', (ev) => { ev.preventDefault(); start(); });
  const onHide = () => stop();
  window.addEventListener('pagehide', onHide);

  function stop() {
    generation += 1;
    for (const t of tiles.splice(0)) closeTile(t, true);
    grid.replaceChildren();
  }

  async function start() {
    stop();
    const mine = generation;
    error.textContent = '';
    const why = reason.value.trim();
    if (!why) { error.textContent = 'Give a reason: every live view is audited and shown to the partner.'; reason.focus(); return; }
    const n = Number(layout.value);
    grid.className = `grid-${n}`;
    try {
      if (!iceServers) iceServers = (await api('GET', '/api/live/config')).ice_servers;
      const cams = (await api('GET', '/api/cameras')).filter((c) => c.sharing === 'live').slice(0, n);
      if (mine !== generation) return;
      if (!cams.length) { error.textContent = 'No camera is shared for live view.'; return; }
      for (const c of cams) tiles.push(liveTile(c, why));
      grid.replaceChildren(...tiles.map((t) => t.el));
    } catch (e) { error.textContent = e.message; }
  }

  function liveTile(cam, why) {
    const video = h('video', {});
    video.muted = true; video.autoplay = true; video.playsInline = true;
    video.setAttribute('aria-label', `Live picture of ${cam.name}`);
    const label = h('span', { class: 'label' });
    const msg = h('span', { class: 'msg', role: 'status' });
    const el = h('div', { class: 'tile', dataset: { camera: cam.id } }, video, label, msg);
    const t = { cam, reason: why, el, video, label, msg, pc: null, location: null, stopped: false, retry: 0,
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

  function closeTile(t, stopIt) {
    if (stopIt) { t.stopped = true; clearInterval(t.timer); clearTimeout(t.pending); }
    if (t.location) { endSession(t.location); t.location = null; }
    if (t.pc) { t.frameBase += t.lastFrames; t.lastFrames = 0; t.pc.close(); t.pc = null; }
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
        headers: { 'Content-Type': 'application/sdp', 'X-CSRF-Token': session.me ? session.me.csrf : '' },
        body: pc.localDescription.sdp,
      });
      if (r.status === 401) { session.onSignedOut(); return; }
      if (r.status !== 201) {
        const d = await r.json().catch(() => ({}));
        const e = new Error(d.error || r.statusText); e.status = r.status; throw e;
      }
      const loc = r.headers.get('Location');
      const answer = await r.text();
      // Stopped or replaced while the offer was in flight: end the session just created.
      if (t.stopped || t.pc !== pc) { endSession(loc); return; }
      t.location = loc;
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

  return {
    async refresh(background) {
      if (!tiles.length) return;
      const cams = await api('GET', '/api/cameras', undefined, { background });
      for (const t of tiles) {
        const c = cams.find((x) => x.id === t.cam.id);
        if (c) { t.cam = c; showTileHealth(t); }
      }
    },
    leave() {
      stop();
      window.removeEventListener('pagehide', onHide);
    },
  };
}

function showTileHealth(t) {
  const hl = t.cam.health || {};
  t.label.textContent = `${t.cam.name} · ${hl.state || 'not recording'}${hl.fps ? ` · ${hl.fps} fps` : ''}`;
}

function showTileCounters(t) {
  t.el.dataset.framesDecoded = t.frameBase + t.lastFrames;
  t.el.dataset.connects = t.connects;
}

function iceGathered(pc, ms) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === 'complete') { resolve(); return; }
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, ms);
  });
}

// keepalive: the DELETE still goes out when the page is being closed.
function endSession(loc) {
  fetch(loc, { method: 'DELETE', keepalive: true, credentials: 'same-origin',
               headers: { 'X-CSRF-Token': session.me ? session.me.csrf : '' } }).catch(() => {});
}
