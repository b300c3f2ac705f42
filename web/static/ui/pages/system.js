// System health: per-camera ingest and recording state, and the Prometheus metrics link.

import { api } from '../api.js';
import { h, pageTitle, table, refill } from '../dom.js';

export async function render(ctx) {
  const render = (c) => {
    const hl = c.health || {};
    return [c.name, h('td', { class: hl.state || '' }, c.paused ? 'paused' : hl.state || (c.sharing === 'registry' ? 'registry only' : 'not recording')),
      hl.codec || '', hl.fps ?? '', hl.bitrate_bps ? `${Math.round(hl.bitrate_bps / 1000)} kbit/s` : '', hl.frames_recorded ?? '', hl.frames_lost ?? '',
      hl.reconnects ?? '', hl.stalls ?? '', hl.timestamp_anomalies ?? '', hl.write_errors ?? '', hl.drift_ms === undefined ? '' : `${hl.drift_ms} ms`, hl.last_error || ''];
  };
  const headers = ['Camera', 'State', 'Codec', 'fps', 'Bitrate', 'Frames recorded', 'Frames lost', 'Reconnects', 'Stalls', 'Timestamp anomalies', 'Write errors', 'Clock drift', 'Last error'];
  const list = table('health', headers, await api('GET', '/api/cameras'), render, 'No camera is enrolled.');
  ctx.view.append(pageTitle('System health'),
    h('p', {}, 'Metrics for monitoring: ', h('a', { href: '/metrics', target: '_blank', rel: 'noopener' }, 'Prometheus metrics (/metrics)'), '.'),
    h('div', { class: 'scroll' }, list));
  return { async refresh(background) { refill(list, await api('GET', '/api/cameras', undefined, { background }), render, 'No camera is enrolled.'); } };
}
