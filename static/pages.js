// Small helpers the pages share (the lobby, game, watch, replay and admin pages).

/**
 * A fresh (never cached) JSON answer from the server.
 * @param {string} url
 * @returns {Promise<any>}
 * @throws {Error} when the server answers with an error status
 */
export async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  return response.json();
}

/**
 * An element holding text (never markup).
 * @param {string} tag
 * @param {string} [className] none or empty: no class
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function textElement(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.textContent = text;
  return node;
}

/**
 * A table cell holding a node, or text (never markup).
 * @param {Node | string | number | null | undefined} content (none: empty, as `textContent` takes it)
 * @param {string} [className]
 */
export function tableCell(content, className = "") {
  const td = document.createElement("td");
  if (className) td.className = className;
  if (content instanceof Node) td.append(content);
  else td.textContent = content == null ? "" : String(content);
  return td;
}

/**
 * What a score list's count says: the humans playing (connected), the seats kept
 * for players who are away (`away: true`, never the own row), and the bots.
 * @param {{bot?: boolean, away?: boolean, id?: string}[]} rows
 * @param {string | null} [me] the own player id: never counted away
 * @returns {string} for instance "1 playing · 1 away · 3 bots"
 */
export function peopleCount(rows, me = null) {
  let playing = 0;
  let away = 0;
  let bots = 0;
  for (const row of rows) {
    if (row.bot) bots += 1;
    else if (row.away && row.id !== me) away += 1;
    else playing += 1;
  }
  const parts = [`${playing} playing`];
  if (away) parts.push(`${away} away`);
  if (bots) parts.push(`${bots} bot${bots === 1 ? "" : "s"}`);
  return parts.join(" · ");
}
