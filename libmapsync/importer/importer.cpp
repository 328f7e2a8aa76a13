// importer.cpp - placeholder: the importers' room (Postfix text maps, PostfixAdmin).
