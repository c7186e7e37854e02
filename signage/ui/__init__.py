"""The board's Kivy window. The only signage package that imports Kivy; import it lazily
(``pacs-signage --text`` must run without initialising Kivy)."""
