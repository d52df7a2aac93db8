import { svg } from './dom.js';
import type { Share } from './shares.js';

const ROW = 46;
const LABEL = 170;
const WIDTH = 640;
const BAR = 14;

function pct(x: number): string {
  return `${Math.round(x * 100)}%`;
}

/**
 * Two bars per server: the share of clients its weight asks for, and the share it holds. Drawn as
 * SVG with attributes only (no inline styles, which the console's CSP forbids).
 */
export function shareChart(data: Share[]): SVGElement {
  const span = WIDTH - LABEL - 50;
  const height = data.length * ROW + 30;
  const rows = data.flatMap((s, i) => {
    const y = i * ROW + 8;
    return [
      svg('text', { x: 0, y: y + BAR + 2, class: 'chart-label' }, document.createTextNode(s.address)),
      svg('rect', { x: LABEL, y, width: Math.max(1, s.weight * span), height: BAR, class: 'bar-weight' }),
      svg(
        'text',
        { x: LABEL + s.weight * span + 6, y: y + BAR - 2, class: 'chart-value' },
        document.createTextNode(pct(s.weight)),
      ),
      svg('rect', {
        x: LABEL,
        y: y + BAR + 3,
        width: Math.max(1, s.clients * span),
        height: BAR,
        class: 'bar-clients',
      }),
      svg(
        'text',
        { x: LABEL + s.clients * span + 6, y: y + 2 * BAR + 1, class: 'chart-value' },
        document.createTextNode(pct(s.clients)),
      ),
    ];
  });
  const legendY = data.length * ROW + 18;
  return svg(
    'svg',
    {
      viewBox: `0 0 ${WIDTH} ${height}`,
      width: WIDTH,
      height,
      role: 'img',
      'aria-label': 'weight share against share of clients',
      class: 'chart',
    },
    ...rows,
    svg('rect', { x: LABEL, y: legendY - 10, width: 12, height: 12, class: 'bar-weight' }),
    svg('text', { x: LABEL + 18, y: legendY, class: 'chart-label' }, document.createTextNode('share by weight')),
    svg('rect', { x: LABEL + 150, y: legendY - 10, width: 12, height: 12, class: 'bar-clients' }),
    svg('text', { x: LABEL + 168, y: legendY, class: 'chart-label' }, document.createTextNode('share of clients')),
  );
}
