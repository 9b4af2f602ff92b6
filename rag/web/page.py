"""The page around the chat in one language: Gradio's own strings in French, labels for screen
readers, and the way to the documented API (/docs).

Gradio translates its own strings (upload area, footer, screen-reader status) after the
browser's language, so an English browser showed English ones inside a French page; here they
are French in every locale Gradio knows. A few strings Gradio writes without translation (the
table's search box, the messages' aria-labels, which held the raw HTML of the answer) are set by
PAGE_JS once the page has drawn them. Nothing here imports gradio.
"""

from __future__ import annotations

# Gradio's translation keys (its frontend's lang/en.json) for the strings this page shows.
# "common.complete" is missing from Gradio's own files: its screen-reader status read the key.
FRENCH = {
    "common.complete": "Terminé",
    "common.loading": "Chargement",
    "common.error": "Erreur",
    "common.or": "ou",
    "common.clear": "Effacer",
    "common.settings": "Paramètres",
    "common.language": "Langue",
    "common.display_theme": "Thème d'affichage",
    "common.back_to_app": "Application",
    "common.back_to_app_description": "Revenir à l'application",
    "common.remove": "Retirer",
    "common.download": "Télécharger",
    "common.progress": "Progression",
    "upload_text.drop_file": "Déposez les fichiers ici",
    "upload_text.click_to_upload": "Cliquez pour les choisir",
    "file.uploading": "Envoi…",
    "chatbot.copy_message": "Copier le message",
    "chatbot.copied_message": "Message copié",
    "chatbot.clear": "Effacer la discussion",
    "dataframe.sort_column": "Trier la colonne",
    "dataframe.sort_ascending": "Tri croissant",
    "dataframe.sort_descending": "Tri décroissant",
    "dataframe.clear_sort": "Annuler le tri",
    "dataframe.filter": "Filtrer",
    "dataframe.clear_filter": "Effacer les filtres",
    "blocks.lost_connection": "Connexion perdue en quittant la page. Reconnexion…",
    "blocks.waiting_for_inputs": "Envoi des fichiers en cours : réessayez dans un instant.",
    "errors.use_via_api": "API",
}
# every locale Gradio 6 ships (its frontend's lang/*.json): the browser picks one of them
GRADIO_LOCALES = (
    "ar ca ckb de en es et eu fa fi fr he hi ja ko lt nb nl pl pt-BR pt ro ru sv ta th tr uk ur "
    "uz zh-CN zh-TW"
).split()

# Run once the page has loaded: the page's language, and the strings Gradio does not translate,
# set again whenever Gradio redraws them.
PAGE_JS = """
() => {
  const SEARCH = 'Rechercher…';
  const LABELS = {
    'chatbot conversation': 'Discussion',
    'Copy conversation': 'Copier la discussion',
    'More tabs': "Plus d'onglets",
    'Table actions': 'Actions du tableau',
    'Copy table data': 'Copier le tableau',
    'Fullscreen': 'Plein écran',
    'Open cell menu': 'Menu de la colonne',
    'File upload': 'Envoi de fichiers',
    'Click to upload or drop files': 'Cliquez ou déposez des fichiers',
    'Gradio footer navigation': 'Pied de page',
  };
  const mend = () => {
    if (document.documentElement.lang !== 'fr') document.documentElement.lang = 'fr';
    for (const message of document.querySelectorAll('#rag-chat [data-testid]')) {
      const who = {bot: 'Réponse', user: 'Question'}[message.dataset.testid];
      if (!who) continue;
      const label = `${who} : ${message.innerText.trim()}`;
      if (message.getAttribute('aria-label') !== label) message.setAttribute('aria-label', label);
    }
    for (const box of document.querySelectorAll('input.search-input')) {
      if (box.placeholder !== SEARCH) box.placeholder = SEARCH;
    }
    for (const element of document.querySelectorAll('[aria-label], [title]')) {
      for (const name of ['aria-label', 'title']) {
        const text = element.getAttribute(name);
        const french = text && (LABELS[text]
          || text.replace(/^Select example (\\d+): /, 'Exemple $1 : '));
        if (french && french !== text) element.setAttribute(name, french);
      }
    }
  };
  new MutationObserver(mend).observe(document.documentElement, {
    childList: true, subtree: true, characterData: true,
    attributes: true, attributeFilter: ['aria-label', 'title', 'placeholder', 'lang'],
  });
  mend();
}
"""
ABOUT = (
    "## Questions sur l'actualité\n"
    "Réponses tirées des articles du corpus, avec leurs sources. "
    "Pour les programmes : l'[API HTTP et sa documentation](/docs)."
)


def translations() -> dict[str, dict[str, str]]:
    """Gradio's strings in French for every locale, as gr.I18n takes them (``gr.I18n(**...)``)."""
    return {locale: dict(FRENCH) for locale in GRADIO_LOCALES}
