// Registering a camera by its position (the partner portal): no video flows, the owner says
// where the camera is and what it sees, by clicking the map or typing. The same form places
// or moves one of the partner's existing cameras, and removes a registration.

import { api } from './api.js';
import { h, field, form, status, say } from './dom.js';
import { makeMap, viewCone, positionFields } from './map.js';

/**
 * The "where are your cameras" section: `cameras()` returns the partner's cameras now;
 * `onDone()` after a change. `partners` (administrators registering on a partner's behalf):
 * the partner is chosen in the form, and only new registrations are made here.
 */
export async function placeSection(cameras, onDone, { partners = null } = {}) {
  const { el, map, L } = await makeMap('place-map', 'Map: click where your camera is, or type its position below.');
  let cone = null;
  const bearing = h('input', { type: 'number', name: 'bearing_deg', id: 'pl-bearing', min: '0', max: '359', step: '1', value: '0' });
  const fov = h('input', { type: 'number', name: 'fov_deg', id: 'pl-fov', min: '1', max: '360', step: '1', value: '90' });
  const range = h('input', { type: 'number', name: 'range_m', id: 'pl-range', min: '1', max: '500', step: '1', value: '30' });
  const redraw = () => {
    if (cone) { cone.remove(); cone = null; }
    const p = pos.get();
    if (pos.lat.value === '' || !p.every(Number.isFinite)) return;
    cone = viewCone(L, p[0], p[1], { bearing_deg: Number(bearing.value), fov_deg: Number(fov.value), range_m: Number(range.value) });
    if (cone) cone.addTo(map);
  };
  const pos = positionFields(L, map, { prefix: 'pl', onChange: redraw });
  for (const i of [bearing, fov, range]) i.addEventListener('input', redraw);

  const which = h('select', { name: 'camera', id: 'pl-camera' });
  const fillWhich = () => {
    which.replaceChildren(h('option', { value: 'new' }, 'A new camera (registered: no video to the agency)'),
      partners ? [] : cameras().map((c) => h('option', { value: String(c.id) }, `${c.name} (${c.source === 'registered' ? 'registered' : c.sharing})`)));
  };
  const partnerField = partners ? field('Partner', h('select', { name: 'partner_id', id: 'pl-partner', required: true },
    h('option', { value: '' }, 'Choose…'), partners.map((p) => h('option', { value: String(p.id) }, `${p.pseudonym} — ${p.contact_name}`)))) : null;
  fillWhich();
  const name = h('input', { name: 'name', id: 'pl-name', maxlength: '64' });
  const nameField = field('Camera name', name, 'Unique among your cameras');
  const address = h('input', { name: 'address', id: 'pl-address' });
  const kind = h('select', { name: 'kind', id: 'pl-kind' }, [['doorbell', 'Doorbell'], ['fixed', 'Fixed camera'], ['ptz', 'Pan-tilt-zoom']].map(([v, l]) => h('option', { value: v }, l)));
  const keeps = h('input', { type: 'number', name: 'owner_keeps_days', id: 'pl-keeps', min: '1', max: '3650', value: '30' });
  const removeButton = h('button', { type: 'button', id: 'pl-remove', hidden: true }, 'Remove this registration');
  const note = status('place-status');
  // Choosing an existing camera fills the form with what is known about it.
  which.addEventListener('change', () => {
    const c = cameras().find((x) => String(x.id) === which.value);
    nameField.hidden = !!c; name.required = !c;
    removeButton.hidden = !(c && c.source === 'registered');
    if (!c) return;
    address.value = c.address || '';
    if (c.kind) kind.value = c.kind;
    if (c.owner_keeps_days) keeps.value = String(c.owner_keeps_days);
    if (c.view) { bearing.value = String(c.view.bearing_deg); fov.value = String(c.view.fov_deg); range.value = String(c.view.range_m); }
    if (c.lat !== null && c.lat !== undefined) { pos.set([c.lat, c.lon]); map.setView([c.lat, c.lon]); } else pos.clear();
    redraw();
  });
  name.required = true;
  removeButton.addEventListener('click', async () => {
    const c = cameras().find((x) => String(x.id) === which.value);
    if (!c || !confirm(`Remove ${c.name}? Its registration is deleted.`)) return;
    try {
      await api('DELETE', `/api/cameras/${c.id}`);
      say(note, `${c.name} removed.`);
      await onDone(); fillWhich(); which.dispatchEvent(new Event('change'));
    } catch (e) { say(note, `${c.name}: ${e.message}`, true); }
  });

  const f = form({ id: 'place-form' }, [
    partnerField,
    field('Camera', which),
    nameField,
    h('div', { class: 'inline' }, field('Latitude', pos.lat), field('Longitude', pos.lon)),
    h('div', { class: 'actions' }, pos.centre),
    field('Address', address, 'Seen by you and the agency’s administrators only; investigators see the position'),
    h('div', { class: 'inline' },
      field('Facing (degrees from north)', bearing), field('Field of view (degrees)', fov), field('Sees up to (m)', range)),
    h('div', { class: 'inline' }, field('Kind', kind), field('Your recorder keeps video (days)', keeps, 'Requests for older footage are flagged')),
  ], async (v) => {
    const place = {
      address: v.address, lat: Number(v.lat), lon: Number(v.lon),
      bearing_deg: Number(v.bearing_deg), fov_deg: Number(v.fov_deg), range_m: Number(v.range_m),
      kind: v.kind, owner_keeps_days: Number(v.owner_keeps_days),
    };
    let done;
    if (v.camera === 'new') {
      const c = await api('POST', '/api/cameras', { name: v.name, sharing: 'registry', ...place, ...(partners ? { partner_id: Number(v.partner_id) } : {}) });
      done = `${c.name} registered at ${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}.`;
    } else {
      const c = await api('PUT', `/api/cameras/${v.camera}/place`, place);
      done = `${c.name} placed at ${c.lat.toFixed(5)}, ${c.lon.toFixed(5)}.`;
    }
    await onDone();
    fillWhich();
    f.reset(); pos.clear(); redraw(); nameField.hidden = false; removeButton.hidden = true;
    say(note, done);
  }, 'Save position');
  const section = h('section', { 'aria-labelledby': 'place-title' }, h('h2', { id: 'place-title' }, partners ? 'Register a camera for a partner' : 'Where your cameras are'),
    h('p', { class: 'muted' }, partners ? 'For an owner who asked the department to register a camera for them: where it is and what it sees; no video flows.' : 'Register a camera so investigators can ask you for footage after an incident nearby — no video is sent unless you answer. Or place one of your connected cameras on the map.'),
    el, f, removeButton, note);
  return { section, shown: () => map.invalidateSize() };
}
