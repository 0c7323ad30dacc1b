/** The bits of SVG both charts draw with. */

const FONT = 'font-family="system-ui, sans-serif"';

/** A round top and step (1, 2 or 5 times a power of ten) giving about five gridlines. */
export function niceAxis(highest: number): { max: number; step: number } {
  const rough = highest / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = ([1, 2, 5, 10].find((factor) => factor * power >= rough) ?? 10) * power;
  return { max: Math.ceil(highest / step) * step, step };
}

export function text(
  x: number,
  y: number,
  content: string,
  anchor: 'start' | 'middle' | 'end',
  size: number,
  weight: 'normal' | 'bold' = 'normal',
  color = '#111827',
): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" text-anchor="${anchor}" font-size="${size}" font-weight="${weight}" fill="${color}" ${FONT}>${escapeXml(content)}</text>`;
}

function escapeXml(content: string): string {
  return content.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`);
}
