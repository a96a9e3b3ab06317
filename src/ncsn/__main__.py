import sys

from ncsn.allocator import ask_for_huge_pages

ask_for_huge_pages()  # may restart this process once, before torch is imported

from ncsn.cli import main  # noqa: E402

sys.exit(main())
