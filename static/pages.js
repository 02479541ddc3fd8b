// Small helpers the lobby, game and admin pages share.

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
