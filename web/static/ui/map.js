// The map both the agency's registry map and the partner portal draw on: Leaflet (vendored,
// loaded once on the first map page), the configured tiles or a plain background, cameras as
// circle markers in clusters with their view cones, and a position picked by clicking the map
// or typed into fields (so everything works from the keyboard as well).

import { api } from './api.js';
import { h } from './dom.js';

let loading = null;

/** Loads Leaflet and its cluster plugin once; resolves to `window.L`. */
export function leaflet() {
  if (loading) return loading;
  for (const css of ['leaflet.css', 'MarkerCluster.css', 'MarkerCluster.Default.css']) {
    document.head.append(h('link', { rel: 'stylesheet', href: `/ui/vendor/${css}` }));
  }
  const script = (src) => new Promise((resolve, reject) => {
    document.head.append(h('script', { src, onload: resolve, onerror: () => reject(new Error(`could not load ${src}`)) }));
  });
  loading = script('/ui/vendor/leaflet.js').then(() => script('/ui/vendor/leaflet.markercluster.js')).then(() => window.L);
  loading.catch(() => { loading = null; });
  return loading;
}

/**
 * A map in a new element labelled `label`, opened where `/api/map` says. Resolves to
 * `{ el, map, L, config }`; the element must be in the document before the map is sized, so
 * the caller appends `el` and then calls `map.invalidateSize()`.
 */
export async function makeMap(id, label) {
  const [L, config] = await Promise.all([leaflet(), api('GET', '/api/map')]);
  const el = h('div', { id, class: 'map', role: 'region', 'aria-label': label, tabindex: '0' });
  const map = L.map(el, { keyboard: true, zoomControl: true, attributionControl: true, maxZoom: 19, minZoom: 3 });
  if (config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19, attribution: config.attribution }).addTo(map);
  } else {
    el.classList.add('plain');
    map.attributionControl.addAttribution('No map tiles configured: plain background');
  }
  map.setView([config.lat, config.lon], config.zoom);
  return { el, map, L, config };
}

const M_PER_DEG = 111195;

/** The point `m` metres from `[lat, lon]` towards `bearing` degrees (flat-earth; ≤ 500 m). */
export function offset([lat, lon], bearing, m) {
  const b = (bearing * Math.PI) / 180;
  return [lat + (m * Math.cos(b)) / M_PER_DEG, lon + (m * Math.sin(b)) / (M_PER_DEG * Math.cos((lat * Math.PI) / 180))];
}

/** A camera's view as a polygon (a sector from its position), or null without a view. */
export function viewCone(L, lat, lon, view, style = {}) {
  if (!view) return null;
  const pts = [[lat, lon]];
  const half = Math.min(view.fov_deg, 359.9) / 2;
  for (let a = -half; a <= half + 1e-9; a += Math.max(half / 8, 1)) pts.push(offset([lat, lon], view.bearing_deg + a, view.range_m));
  return L.polygon(pts, { weight: 1, color: '#2a9d8f', fillOpacity: 0.15, interactive: false, ...style });
}

/**
 * Position fields (latitude, longitude) filled by clicking `map`, shown there as a marker;
 * typing moves the marker. `onChange([lat, lon])` after either.
 */
export function positionFields(L, map, { prefix, onChange = () => {}, initial = null }) {
  const lat = h('input', { type: 'number', step: 'any', min: '-90', max: '90', name: 'lat', id: `${prefix}-lat`, required: true });
  const lon = h('input', { type: 'number', step: 'any', min: '-180', max: '180', name: 'lon', id: `${prefix}-lon`, required: true });
  let marker = null;
  const show = (p) => {
    if (!marker) marker = L.circleMarker(p, { radius: 7, color: '#e63946', weight: 3, fillOpacity: 0.6 }).addTo(map);
    else marker.setLatLng(p);
  };
  const set = (p, from) => {
    if (from !== 'typed') { lat.value = p[0].toFixed(6); lon.value = p[1].toFixed(6); }
    show(p);
    onChange(p);
  };
  map.on('click', (e) => set([e.latlng.lat, e.latlng.lng], 'map'));
  for (const input of [lat, lon]) {
    input.addEventListener('change', () => {
      const p = [Number(lat.value), Number(lon.value)];
      if (lat.value !== '' && lon.value !== '' && p.every(Number.isFinite)) set(p, 'typed');
    });
  }
  const centre = h('button', { type: 'button', id: `${prefix}-centre`, onclick: () => { const c = map.getCenter(); set([c.lat, c.lng], 'button'); } }, 'Use the map centre');
  if (initial) set(initial, 'initial');
  return {
    lat, lon, centre,
    get: () => [Number(lat.value), Number(lon.value)],
    set: (p) => set(p, 'set'),
    clear: () => { lat.value = ''; lon.value = ''; if (marker) { marker.remove(); marker = null; } },
  };
}
