// Enrolling a camera (the partner portal, and administrators on a partner's behalf): by RTSP
// URL, or by ONVIF address with a probe step that shows the device, its profiles and its
// clock offset before anything is saved. Credentials are write-only: sent once, never shown.

import { api } from './api.js';
import { h, field, form, table } from './dom.js';

/** The enrolment form; `onDone(camera)` after a camera is enrolled. `partners`: admin only. */
export function enrollForm({ partners = null, onDone }) {
  const how = h('fieldset', { class: 'how' }, h('legend', {}, 'How the server reaches the camera'),
    ['onvif', 'rtsp'].map((v) => h('div', { class: 'pick' },
      h('input', { type: 'radio', name: 'how', id: `how-${v}`, value: v, checked: v === 'onvif' }),
      h('label', { for: `how-${v}` }, v === 'onvif' ? 'ONVIF camera (address; the server finds its stream)' : 'RTSP stream URL'))));
  const onvifAddr = h('input', { name: 'onvif_address', id: 'en-onvif', placeholder: 'camera.example.net or 192.0.2.10:80' });
  const rtspUrl = h('input', { name: 'rtsp_url', id: 'en-rtsp', type: 'url', placeholder: 'rtsp://camera.example.net/stream1' });
  const onvifField = field('ONVIF address', onvifAddr);
  const rtspField = field('RTSP URL', rtspUrl);
  const probeOut = h('div', { id: 'probe-result', 'aria-live': 'polite' });
  const probeError = h('p', { class: 'error', role: 'alert', id: 'probe-error' });
  let probed = null; // the address the shown probe result is for
  const probeButton = h('button', { type: 'button', id: 'probe' }, 'Probe camera');
  const showHow = () => {
    const onvif = how.querySelector('input:checked').value === 'onvif';
    onvifField.hidden = !onvif; probeButton.hidden = !onvif; probeOut.hidden = !onvif;
    rtspField.hidden = onvif;
    onvifAddr.required = onvif; rtspUrl.required = !onvif;
  };
  how.addEventListener('change', showHow);

  const partnerField = partners ? field('Partner', h('select', { name: 'partner_id', id: 'en-partner', required: true },
    h('option', { value: '' }, 'Choose…'), partners.map((p) => h('option', { value: String(p.id) }, `${p.pseudonym} — ${p.contact_name}`)))) : null;
  const f = form({ id: 'enroll-form' }, [
    partnerField,
    field('Camera name', h('input', { name: 'name', id: 'en-name', required: true, maxlength: '64' }), 'Unique among your cameras'),
    field('Address', h('input', { name: 'address', id: 'en-location' }), 'Where it is (place it on the map below to be found after an incident)'),
    how, onvifField, rtspField,
    h('div', { class: 'inline' },
      field('Camera username', h('input', { name: 'username', id: 'en-user', autocomplete: 'off' })),
      field('Camera password', h('input', { name: 'password', id: 'en-pass', type: 'password', autocomplete: 'new-password' }), 'Stored encrypted; never shown again')),
    h('div', { class: 'actions' }, probeButton), probeError, probeOut,
    h('div', { class: 'inline' },
      field('Sharing', h('select', { name: 'sharing', id: 'en-sharing' },
        h('option', { value: 'on-request', selected: true }, 'On request (you approve each request)'),
        h('option', { value: 'live' }, 'Live (staff may watch; every view is shown to you)'),
        h('option', { value: 'registry' }, 'Registry only (no video to the agency)'))),
      field('Keep video (days)', h('input', { name: 'retention_days', id: 'en-retention', type: 'number', min: '1', max: '365', value: '30' }))),
  ], async (v) => {
    const onvif = v.how === 'onvif';
    if (onvif && probed !== v.onvif_address.trim()) throw new Error('Probe the camera first, to check it answers and how its clock is set.');
    const body = {
      name: v.name, address: v.address, sharing: v.sharing, retention_days: Number(v.retention_days),
      username: v.username || null, password: v.password || null,
      ...(onvif ? { onvif_address: v.onvif_address.trim() } : { rtsp_url: v.rtsp_url.trim() }),
      ...(partners ? { partner_id: Number(v.partner_id) } : {}),
    };
    const cam = await api('POST', '/api/cameras', body);
    f.reset(); probed = null; probeOut.replaceChildren(); showHow();
    onDone(cam);
  }, 'Enroll camera');

  probeButton.addEventListener('click', async () => {
    probeError.textContent = '';
    probeOut.replaceChildren(h('p', { role: 'status' }, h('progress', { 'aria-label': 'Probing the camera' }), ' Asking the camera…'));
    probeButton.disabled = true;
    const addr = onvifAddr.value.trim();
    try {
      const p = await api('POST', '/api/onvif/probe', { address: addr, username: f.elements.username.value || null, password: f.elements.password.value || null });
      probed = addr;
      probeOut.replaceChildren(probeResult(p));
    } catch (e) {
      probed = null;
      probeOut.replaceChildren();
      probeError.textContent = e.message;
      onvifAddr.focus();
    } finally {
      probeButton.disabled = false;
    }
  });
  showHow();
  return f;
}

function probeResult(p) {
  const offset = p.clock_offset_ms;
  const clock = Math.abs(offset) < 2000 ? `in step with the server (${offset} ms)` : `${Math.abs(offset / 1000).toFixed(1)} s ${offset > 0 ? 'ahead of' : 'behind'} the server — recordings are corrected for it`;
  return h('div', { class: 'card', id: 'probe-card' },
    h('h3', {}, [p.manufacturer, p.model].filter(Boolean).join(' ') || 'ONVIF device'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Firmware'), h('dd', {}, p.firmware_version || '—'),
      h('dt', {}, 'Clock'), h('dd', { id: 'probe-clock' }, clock),
      h('dt', {}, 'Recorded stream'), h('dd', {}, p.main_stream)),
    table('probe-profiles', ['Profile', 'Encoding', 'Size', 'fps', 'kbit/s', ''], p.profiles,
      (x) => [x.name || x.token, x.encoding, x.width ? `${x.width}×${x.height}` : '', x.fps, x.bitrate_kbps, x.chosen || '']),
    p.notes.length ? h('ul', {}, p.notes.map((n) => h('li', {}, n))) : '');
}
