// Porchlight web UI: the Devices screen (pairing a laptop or phone on the
// home network). Loaded before app.js, whose helpers (h, api, get, main,
// title, msg, when, svgImage) it uses when called; app.js routes #devices
// here. The node refuses pairing and revoking from a paired device: those
// controls show on the hub only.
"use strict";

async function devicesScreen() {
  const lan = h("div", { id: "dev-lan" });
  const body = h("tbody", { id: "dev-list" });
  const out = h("div", { id: "dev-link", "aria-live": "polite" });
  const name = h("input", { id: "dev-name", type: "text", maxlength: 64, autocomplete: "off", placeholder: "Ana's laptop" });
  const btn = h("button", { id: "dev-pair", type: "button" }, "Make a pairing link");
  const pairing = h("section", { id: "dev-pairing", "aria-labelledby": "dev-pair-h" },
    h("h2", { id: "dev-pair-h" }, "Pair a laptop or phone"),
    h("p", null, "A pairing link opens Porchlight in a browser on another device of your home network. It works once, for 10 minutes. The same as porchlight pair."),
    h("p", null, h("label", { for: "dev-name" }, "Device name"), " ", name, " ", btn), out);
  const col = (text) => h("th", { scope: "col" }, text);
  main.replaceChildren(title("Devices"),
    h("p", { class: "meta" }, "Browsers on your home network paired with this node. Each has its own session; revoke one and its next request is refused."),
    lan, pairing,
    h("section", { "aria-labelledby": "dev-list-h" }, h("h2", { id: "dev-list-h" }, "Paired devices"),
      h("div", { class: "scroll" }, h("table", { "aria-labelledby": "dev-list-h" }, h("thead", null, h("tr", null,
        col("Name"), col("First seen"), col("Last seen"), col(""))), body))));

  let onDevice = false;
  const draw = async () => {
    const d = await get("/api/v1/devices");
    const devs = d.devices || [];
    onDevice = devs.some(x => x.current);
    pairing.hidden = onDevice;
    lan.replaceChildren(d.lan && d.lan.on
      ? h("p", null, "Serving paired devices at ", h("code", null, (d.lan.urls || []).join(" ")), ". Certificate SHA-256 fingerprint: ",
        h("code", { id: "dev-fp" }, d.lan.fingerprint))
      : h("p", null, "This node does not serve the home network yet: making a pairing link turns it on."));
    body.replaceChildren(...(devs.length ? devs.map(x => h("tr", { "data-device": x.id },
      h("td", null, x.name, x.current ? h("span", { class: "tag" }, " this device") : null),
      h("td", null, when(x.first_seen)), h("td", null, when(x.last_seen)),
      h("td", null, onDevice ? null : h("button", { type: "button", class: "revoke", "aria-label": "Revoke " + x.name, onclick: async (ev) => {
        ev.target.disabled = true;
        try { await api("DELETE", "/api/v1/devices/" + encodeURIComponent(x.id)); await draw(); }
        catch (err) { out.replaceChildren(msg("error", "Not revoked: " + err.message)); ev.target.disabled = false; }
      } }, "Revoke")))) : [h("tr", null, h("td", { colspan: 4, class: "empty" }, "No paired device."))]));
  };

  btn.onclick = async () => {
    btn.disabled = true;
    try {
      const l = await api("POST", "/api/v1/pair-links", { name: name.value.trim() });
      const link = h("input", { id: "dev-url", type: "text", readonly: true, value: l.url, size: 60 });
      const qr = svgImage(l.qr_svg, "QR code of the pairing link, to scan with the device's camera");
      qr.id = "dev-qr";
      out.replaceChildren(
        msg("notice", `Pairing link for "${l.name}": works once, until ${when(l.expires)}. Whoever holds it can pair; open it at once.`),
        h("div", { class: "row" }, qr, h("div", { class: "grow" },
          h("label", { for: "dev-url" }, "Link (open it on the device)"), link,
          h("p", null, "The device's browser will warn that the certificate is not trusted: this node made it itself. Open the certificate's details there and check that its SHA-256 fingerprint is ",
            h("code", null, l.fingerprint), ". If it differs, do not pair."))));
      await draw();
    } catch (err) { out.replaceChildren(msg("error", "No pairing link made: " + err.message)); }
    btn.disabled = false;
  };
  return draw;
}
