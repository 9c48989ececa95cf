// An image message opens here, large, instead of being downloaded: Esc, the close button or a
// click beside the image closes it; saving the file is a button of its own.

import { h, toast } from "../dom.js";
import { formatSize } from "../format.js";
import { downloadFile, imageUrl } from "../files.js";

export function setupImageViewer(api) {
  const image = h("img", { class: "lightbox-image", alt: "", "data-testid": "lightbox-image" });
  const caption = h("span", { class: "lightbox-caption", "data-testid": "lightbox-caption" });
  let shown = null;
  const dialog = h(
    "dialog",
    { class: "lightbox", "data-testid": "lightbox", "aria-label": "Image" },
    h(
      "div",
      { class: "lightbox-bar" },
      caption,
      h("button", { type: "button", class: "ghost lightbox-button", "data-testid": "lightbox-download", onclick: save }, "Download"),
      h("button", { type: "button", class: "ghost lightbox-button", "data-testid": "lightbox-close", "aria-label": "Close the image", onclick: () => dialog.close() }, "✕"),
    ),
    image,
  );
  document.body.append(dialog);
  // A click on the dark area around the image (the dialog itself, not its content) closes it.
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener("close", () => {
    shown = null;
    image.removeAttribute("src");
  });

  async function save() {
    if (!shown) return;
    try {
      await downloadFile(api, shown);
    } catch (error) {
      toast(`Could not download ${shown.name}: ${error.message}`);
    }
  }

  return {
    /** Shows the image of a file reference {file_id, name, size}. */
    async open(ref) {
      shown = ref;
      image.alt = ref.name || "image";
      caption.textContent = `${ref.name || "image"} · ${formatSize(ref.size ?? 0)}`;
      dialog.showModal();
      try {
        const url = await imageUrl(api, ref.file_id);
        if (shown === ref) image.src = url;
      } catch (error) {
        dialog.close();
        toast(`Could not show ${ref.name}: ${error.message}`);
      }
    },
  };
}
