from lakehouse.serving.portal.app import main

main()
